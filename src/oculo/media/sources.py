"""Turn what the user typed (paths, globs, folders, URLs, `-`) into a flat, ordered list of image sources.

Nothing is read here except stdin (it can be read only once); files and URLs are read when an image is loaded.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx

from ..errors import InputError

__all__ = ["Source", "expand", "fetch_url", "read_list", "IMAGE_EXTENSIONS", "DOCUMENT_EXTENSIONS", "MAX_URL_BYTES"]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
DOCUMENT_EXTENSIONS = IMAGE_EXTENSIONS | {".pdf"}
MAX_URL_BYTES = 50 * 2**20
DEFAULT_TIMEOUT = httpx.Timeout(30, connect=10)

_URL = re.compile(r"^https?://", re.IGNORECASE)
_OTHER_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass(frozen=True)
class Source:
    """One image input: `name` is what error messages show (a path, a URL, "<stdin>" or "<bytes>")."""

    name: str
    path: Path | None = None
    url: str | None = None
    data: bytes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Source:
        return cls(name=os.fspath(path), path=Path(path))

    @classmethod
    def from_url(cls, url: str) -> Source:
        return cls(name=url, url=url)

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>") -> Source:
        return cls(name=name, data=bytes(data))

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.url is not None:
            return fetch_url(self.url)
        if self.path is None:
            raise InputError(f"{self.name}: source has no path, URL or bytes; this is a bug in the caller")
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{self.name}: no such file; check the path") from None
        except IsADirectoryError:
            raise InputError(f"{self.name}: is a folder, not a file; pass the folder to read its images") from None
        except OSError as e:
            raise InputError(f"{self.name}: cannot read ({e.strerror or e}); check its permissions") from None


def expand(
    inputs: Sequence[str | os.PathLike[str] | bytes],
    *,
    stdin: BinaryIO | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    extensions: frozenset[str] = IMAGE_EXTENSIONS,
) -> list[Source]:
    """Expand inputs in order; a folder yields its images (recursively, sorted), a glob its matching files.

    `include`/`exclude` are fnmatch patterns on the path relative to the folder or glob base (`*` spans folders).
    A path given twice, directly or through a folder or glob, appears once, where it first appeared.
    """
    out: list[Source] = []
    seen: set[str] = set()
    n_bytes = 0

    def add(src: Source, key: str) -> None:
        if key not in seen:
            seen.add(key)
            out.append(src)

    for item in inputs:
        if isinstance(item, (bytes, bytearray, memoryview)):
            n_bytes += 1
            out.append(Source.from_bytes(bytes(item), "<bytes>" if n_bytes == 1 else f"<bytes {n_bytes}>"))
            continue
        text = os.fspath(item)
        if text == "-":
            if "-" not in seen:
                add(Source.from_bytes(_read_stdin(stdin), "<stdin>"), "-")
            continue
        if _URL.match(text):
            add(Source.from_url(text), text)
            continue
        if _OTHER_SCHEME.match(text):
            raise InputError(f"{text}: only http(s) URLs can be fetched; download it and pass the file")
        for path in _expand_path(text, include, exclude, extensions):
            add(Source.from_path(path), os.path.realpath(path))
    return out


def read_list(path: str) -> list[str]:
    """`--from-list FILE`: one path or URL a line; blank lines and # comments skipped."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [line.strip() for line in fh]
    except OSError as e:
        raise InputError(f"{path}: cannot read the list ({e.strerror}); check the path") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file; pass one path or URL a line, UTF-8") from None
    items = [line for line in lines if line and not line.startswith("#")]
    if not items:
        raise InputError(f"{path}: the list is empty; put one path or URL a line")
    return items


def _read_stdin(stdin: BinaryIO | None) -> bytes:
    stream = stdin if stdin is not None else sys.stdin.buffer
    if stream.isatty():
        raise InputError("-: stdin is a terminal; pipe an image in, for example `cat photo.jpg | oculo ... -`")
    return stream.read()


def _expand_path(text: str, include: Sequence[str], exclude: Sequence[str],
                 extensions: frozenset[str] = IMAGE_EXTENSIONS) -> list[str]:
    # An existing path wins over glob syntax, so a file really named "shot[1].png" still works.
    if os.path.isfile(text):
        return [text]
    if os.path.isdir(text):
        found = _walk(text, extensions)
        if not found:
            exts = ", ".join(sorted(e.lstrip(".") for e in extensions))
            kind = "images" if extensions == IMAGE_EXTENSIONS else "images or documents"
            raise InputError(f"{text}: no {kind} in this folder ({exts}); check the folder")
        kept = _filter(found, text, include, exclude)
        if not kept:
            raise InputError(f"{text}: none of its {len(found)} images match the include/exclude patterns; check them")
        return kept
    if glob.has_magic(text):
        matches = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
        if not matches:
            raise InputError(f"{text}: no files match this pattern; check the pattern (quote it to stop the shell)")
        kept = _filter(matches, _glob_base(text), include, exclude)
        if not kept:
            raise InputError(f"{text}: none of its {len(matches)} files match the include/exclude patterns; check them")
        return kept
    raise InputError(f"{text}: no such file; check the path")


def _walk(root: str, extensions: frozenset[str] = IMAGE_EXTENSIONS) -> list[str]:
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        # Hidden folders (.git, .thumbnails) and macOS "._x.jpg" resource forks hold no images the user meant.
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in filenames:
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in extensions:
                found.append(os.path.join(dirpath, f))
    # Sort on the relative POSIX path so the order is the same on every OS and file system.
    return sorted(found, key=lambda p: Path(os.path.relpath(p, root)).as_posix())


def _glob_base(pattern: str) -> str:
    fixed: list[str] = []
    for part in Path(pattern).parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return str(Path(*fixed)) if fixed else "."


def _filter(paths: list[str], base: str, include: Sequence[str], exclude: Sequence[str]) -> list[str]:
    if not include and not exclude:
        return paths
    kept = []
    for p in paths:
        rel = Path(os.path.relpath(p, base)).as_posix()
        if include and not any(fnmatch.fnmatch(rel, pat) for pat in include):
            continue
        if any(fnmatch.fnmatch(rel, pat) for pat in exclude):
            continue
        kept.append(p)
    return kept


def fetch_url(url: str, *, max_bytes: int = MAX_URL_BYTES, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> bytes:
    """GET an image, following redirects; stop reading once past `max_bytes` so a huge or endless body costs little."""
    too_big = InputError(f"{url}: larger than {_size(max_bytes)}; download it and pass the file")
    try:
        with httpx.Client(follow_redirects=True, timeout=timeout, headers={"User-Agent": "oculo"}) as client:
            with client.stream("GET", url) as resp:
                if resp.status_code >= 400:
                    raise InputError(f"{url}: HTTP {resp.status_code} {resp.reason_phrase}; check the URL")
                length = resp.headers.get("content-length", "")
                if length.isdigit() and int(length) > max_bytes:
                    raise too_big
                buf = bytearray()
                # iter_bytes decompresses, so the cap also holds against a gzip bomb.
                for chunk in resp.iter_bytes():
                    buf += chunk
                    if len(buf) > max_bytes:
                        raise too_big
                return bytes(buf)
    except httpx.TimeoutException:
        raise InputError(f"{url}: timed out; check the URL and network, or download it and pass the file") from None
    except (httpx.HTTPError, httpx.InvalidURL) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise InputError(f"{url}: cannot fetch ({reason}); check the URL and your network") from None


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            value = n / scale
            return f"{value:g} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"
