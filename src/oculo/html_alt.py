"""Fill missing `alt` attributes of `<img>` tags in HTML files, changing nothing else in them.

Re-serializing a document with an HTML library reorders attributes, rewrites entities and whitespace and
loses bytes in unknown encodings; a site's diff must show only the new alt text. So the parser is used only to
*find* tags (it knows comments, scripts and quoted `>`), and the edit is a splice into the original bytes.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

from .errors import InputError

__all__ = ["Change", "ImgRef", "apply", "backup_path", "escape_attr", "html_files", "plan", "scan", "undescribed"]

HTML_SUFFIXES = (".html", ".htm")
_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
# One attribute inside a start tag: name, then optionally `=` and a quoted or bare value.
_ATTR = re.compile(r"""([^\s/>"'=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]*))?""")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
_CONTEXT_CHARS = 160


@dataclass(frozen=True)
class ImgRef:
    """One `<img>` tag with a local `src`: where it is and what it says now."""

    html_path: Path
    image_path: Path  # resolved against the HTML file (or the site root for "/..."), normalized
    alt: str | None  # None: no alt attribute; "" : empty or bare
    line: int
    context: str | None = None  # page title and nearby text, for the prompt
    start: int = field(default=0, repr=False)  # character offset of the tag in the decoded file
    tag: str = field(default="", repr=False)  # the tag's exact text, to check the file did not change


@dataclass(frozen=True)
class Change:
    html_path: Path
    image_path: Path
    old_alt: str | None
    new_alt: str
    line: int = 0
    start: int = field(default=0, repr=False)
    tag: str = field(default="", repr=False)


def escape_attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


# ---- reading ---------------------------------------------------------------------------------------------
def _encoding(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8"  # the BOM decodes to U+FEFF and is written back as it was
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16-le" if data.startswith(b"\xff\xfe") else "utf-16-be"
    m = _META_CHARSET.search(data[:4096])
    if m:
        import codecs

        try:
            return codecs.lookup(m.group(1).decode("ascii")).name
        except LookupError:
            pass
    return "utf-8"


def _read(path: Path) -> tuple[bytes, str, str]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e}); check its permissions") from None
    enc = _encoding(data)
    text = data.decode(enc, "surrogateescape")
    if text.encode(enc, "surrogateescape") != data:
        # A stateful or lossy codec would shift byte offsets; utf-8 with escapes always round-trips.
        enc = "utf-8"
        text = data.decode(enc, "surrogateescape")
    return data, enc, text


class _Finder(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.tags: list[tuple[int, int, str, str]] = []  # (offset, line, raw tag, text before)
        self.after: dict[int, list[str]] = {}
        self.title: list[str] = []
        self._stack: list[str] = []
        self._recent = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            line, col = self.getpos()
            raw = self.get_starttag_text() or ""
            offset = self.line_starts[line - 1] + col
            self.tags.append((offset, line, raw, self._recent))
            self.after[len(self.tags) - 1] = []
        elif tag in ("script", "style", "title"):
            self._stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self._stack and self._stack[-1] == tag:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if "title" in self._stack:
            self.title.append(data)
        if self._stack:
            return
        words = " ".join(data.split())
        if not words:
            return
        self._recent = (self._recent + " " + words)[-_CONTEXT_CHARS:].strip()
        for pieces in self.after.values():
            if sum(map(len, pieces)) < _CONTEXT_CHARS:
                pieces.append(words)


def _attrs(tag: str) -> list[tuple[str, int, int, str | None]]:
    """(lowercased name, start, end, unescaped value or None) for each attribute of a raw start tag."""
    m = re.match(r"<[^\s/>]+", tag)
    pos = m.end() if m else 0
    body_end = len(tag) - 1  # the closing ">"
    out = []
    while pos < body_end:
        if tag[pos].isspace() or tag[pos] == "/":
            pos += 1
            continue
        a = _ATTR.match(tag, pos, body_end)
        if not a or a.end() == pos:
            break
        value = a.group(2)
        if value is not None and value[:1] in "\"'" and len(value) >= 2 and value[-1] == value[0]:
            value = value[1:-1]
        out.append((a.group(1).lower(), a.start(), a.end(), None if value is None else unescape(value)))
        pos = a.end()
    return out


def _readable(text: str) -> str:
    # Undecodable bytes are kept as lone surrogates for the round trip; a tokenizer chokes on them.
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\ufffd", "")


def _resolve(src: str, html_path: Path, root: Path) -> Path | None:
    src = src.strip()
    if not src or _SCHEME.match(src):
        return None  # remote, data: and other schemes are not files here
    src = unquote(src.split("#", 1)[0].split("?", 1)[0])
    if not src:
        return None
    base = root if src.startswith("/") else html_path.parent
    return Path(os.path.normpath(os.path.abspath(base / src.lstrip("/"))))


def html_files(root: str | os.PathLike[str]) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder; pass the folder holding the HTML files")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in HTML_SUFFIXES and p.is_file())


def _scan_file(path: Path, root: Path) -> list[ImgRef]:
    _, _, text = _read(path)
    finder = _Finder(text)
    finder.feed(text)
    finder.close()
    title = " ".join(" ".join(finder.title).split())
    refs = []
    for i, (offset, line, raw, before) in enumerate(finder.tags):
        if text[offset:offset + len(raw)] != raw:
            continue  # the parser's position is off (should not happen); never splice blind
        attrs: dict[str, str | None] = {}
        for name, _, _, value in _attrs(raw):
            attrs.setdefault(name, value)  # the first of duplicate attributes is the one browsers use
        image = _resolve(attrs.get("src") or "", path, root)
        if image is None:
            continue
        alt = attrs.get("alt", None) if "alt" in attrs else None
        if "alt" in attrs and alt is None:
            alt = ""
        bits = [f'page "{title}"'] if title else []
        if before:
            bits.append(f'text before: "{before[-_CONTEXT_CHARS:]}"')
        after = " ".join(finder.after.get(i, []))[:_CONTEXT_CHARS]
        if after:
            bits.append(f'text after: "{after}"')
        refs.append(ImgRef(path, image, alt, line, _readable("; ".join(bits)) or None, offset, raw))
    return refs


def scan(root: str | os.PathLike[str]) -> list[ImgRef]:
    """Every `<img>` with a local `src` in the *.html/*.htm files under `root`, in file and document order."""
    root_path = Path(root)
    return [ref for path in html_files(root_path) for ref in _scan_file(path, root_path)]


def _key(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.normpath(os.path.abspath(path)))


def plan(root: str | os.PathLike[str], texts: Mapping[str | os.PathLike[str], str], overwrite: bool = False,
         refs: Sequence[ImgRef] | None = None) -> list[Change]:
    """The alt attributes that would change (a dry run: nothing is written)."""
    by_path = {_key(k): v for k, v in texts.items() if v}
    changes = []
    for ref in scan(root) if refs is None else refs:
        new = by_path.get(ref.image_path)
        if new is None or (ref.alt and not overwrite) or ref.alt == new:
            continue
        changes.append(Change(ref.html_path, ref.image_path, ref.alt, new, ref.line, ref.start, ref.tag))
    return changes


def undescribed(refs: Iterable[ImgRef], texts: Mapping[str | os.PathLike[str], str],
                overwrite: bool = False) -> list[ImgRef]:
    """References that needed alt text but got none (missing files, failed images, images not given)."""
    have = {_key(k) for k, v in texts.items() if v}
    return [r for r in refs if (overwrite or not r.alt) and r.image_path not in have]


def _edit(tag: str, new_alt: str) -> tuple[int, int, str]:
    """(start, end, replacement) within the tag: replace an existing alt attribute, else append one."""
    attrs = _attrs(tag)
    for name, start, end, _ in attrs:
        if name == "alt":
            return start, end, f'{tag[start:start + 3]}="{escape_attr(new_alt)}"'
    at = attrs[-1][2] if attrs else (re.match(r"<[^\s/>]+", tag) or re.match("<", tag)).end()  # type: ignore[union-attr]
    return at, at, f' alt="{escape_attr(new_alt)}"'


def backup_path(path: Path) -> Path:
    candidate = path.with_name(path.name + ".bak")
    n = 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.bak.{n}")
    return candidate


def _splice(data: bytes, enc: str, text: str, edits: list[tuple[int, int, str]]) -> bytes:
    """Apply character-offset edits to the original bytes, so untouched bytes are copied, never re-encoded."""
    out, prev_char, prev_byte = [], 0, 0
    for start, end, new in sorted(edits):
        b_start = prev_byte + len(text[prev_char:start].encode(enc, "surrogateescape"))
        b_end = b_start + len(text[start:end].encode(enc, "surrogateescape"))
        out += [data[prev_byte:b_start], new.encode(enc, "xmlcharrefreplace")]
        prev_char, prev_byte = end, b_end
    out.append(data[prev_byte:])
    return b"".join(out)


def apply(changes: Sequence[Change]) -> list[Path]:
    """Write the changes (a backup of each file first); returns the files written."""
    by_file: dict[Path, list[Change]] = {}
    for c in changes:
        by_file.setdefault(c.html_path, []).append(c)
    written = []
    for path, items in by_file.items():
        data, enc, text = _read(path)
        edits = []
        for c in items:
            if text[c.start:c.start + len(c.tag)] != c.tag or not c.tag:
                raise InputError(f"{path}: changed since it was scanned (line {c.line}); run again")
            s, e, new = _edit(c.tag, c.new_alt)
            edits.append((c.start + s, c.start + e, new))
        new_data = _splice(data, enc, text, edits)
        if new_data == data:
            continue
        shutil.copy2(path, backup_path(path))
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(new_data)
            shutil.copymode(path, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(path)
    return written
