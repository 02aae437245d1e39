"""html_alt: only the alt attribute changes; every other byte of each file stays as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from oculo import html_alt
from oculo.errors import InputError


def site(tmp_path: Path, html: str | bytes, name: str = "index.html", images: tuple[str, ...] = ("a.png",)) -> Path:
    page = tmp_path / name
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_bytes(html if isinstance(html, bytes) else html.encode("utf-8"))
    for img in images:
        (page.parent / img).parent.mkdir(parents=True, exist_ok=True)
        (page.parent / img).write_bytes(b"png")
    return page


def run(tmp_path: Path, texts: dict[str, str], overwrite: bool = False) -> list[html_alt.Change]:
    changes = html_alt.plan(tmp_path, {str(tmp_path / k): v for k, v in texts.items()}, overwrite)
    html_alt.apply(changes)
    return changes


def assert_spliced(before: bytes, after: bytes, old: bytes, new: bytes) -> None:
    """`after` is `before` with `old` replaced by `new` at one place; every other byte is shared."""
    assert len(after) == len(before) - len(old) + len(new)
    ok = [k for k in range(len(before) + 1)
          if before[:k] == after[:k] and before[k:k + len(old)] == old and after[k:k + len(new)] == new
          and before[k + len(old):] == after[k + len(new):]]
    assert ok, "the file differs by more than the spliced attribute"


def test_fills_missing_alt(tmp_path):
    before = b'<html><body>\n<p>Hi</p><img src="a.png"></body></html>\n'
    page = site(tmp_path, before)
    changes = run(tmp_path, {"a.png": "A red bicycle"})
    assert [(c.old_alt, c.new_alt, c.line) for c in changes] == [(None, "A red bicycle", 2)]
    assert page.read_bytes() == before.replace(b'"a.png">', b'"a.png" alt="A red bicycle">')
    assert_spliced(before, page.read_bytes(), b"", b' alt="A red bicycle"')


@pytest.mark.parametrize("tag,expected", [
    ('<img src="a.png" alt="">', '<img src="a.png" alt="New">'),
    ('<img alt src="a.png">', '<img alt="New" src="a.png">'),
    ("<img src='a.png' alt=''>", "<img src='a.png' alt=\"New\">"),
    ('<IMG SRC="a.png" ALT="">', '<IMG SRC="a.png" ALT="New">'),
    ('<IMG SRC="a.png">', '<IMG SRC="a.png" alt="New">'),
    ("<img src='a.png'>", "<img src='a.png' alt=\"New\">"),
    ('<img src="a.png"/>', '<img src="a.png" alt="New"/>'),
    ('<img src="a.png" />', '<img src="a.png" alt="New" />'),
    ('<img\n  class="x"\r\n  src="a.png"\n>', '<img\n  class="x"\r\n  src="a.png" alt="New"\n>'),
    ('<img title="a > b" src="a.png">', '<img title="a > b" src="a.png" alt="New">'),
    ('<img src="a.png" data-x=\'"<img alt>"\'>', '<img src="a.png" data-x=\'"<img alt>"\' alt="New">'),
    ('<img src=a.png>', '<img src=a.png alt="New">'),
    ('<img src="a.png?v=2#top">', '<img src="a.png?v=2#top" alt="New">'),
])
def test_tag_shapes(tmp_path, tag, expected):
    before = f"<!doctype html>\r\n<p>x</p>\r\n{tag}\r\n<p>after</p>\r\n".encode()
    page = site(tmp_path, before)
    assert len(run(tmp_path, {"a.png": "New"})) == 1
    assert page.read_bytes() == before.replace(tag.encode(), expected.encode())


def test_existing_alt_left_alone_unless_overwrite(tmp_path):
    before = b'<img src="a.png" alt="Keep me"><img src="a.png">'
    page = site(tmp_path, before)
    changes = run(tmp_path, {"a.png": "Fresh"})
    assert len(changes) == 1
    assert page.read_bytes() == b'<img src="a.png" alt="Keep me"><img src="a.png" alt="Fresh">'
    changes = run(tmp_path, {"a.png": "Newer"}, overwrite=True)
    assert [c.old_alt for c in changes] == ["Keep me", "Fresh"]
    assert page.read_bytes() == b'<img src="a.png" alt="Newer"><img src="a.png" alt="Newer">'


def test_escapes_the_text(tmp_path):
    page = site(tmp_path, b'<img src="a.png">')
    run(tmp_path, {"a.png": 'Tom & Jerry say "hi" <3 >'})
    assert page.read_bytes() == b'<img src="a.png" alt="Tom &amp; Jerry say &quot;hi&quot; &lt;3 &gt;">'


def test_comments_and_scripts_untouched(tmp_path):
    before = (b'<!-- <img src="a.png"> -->\n<script>var s = "<img src=\\"a.png\\">"; if (a<img) {}</script>\n'
              b'<style>/* <img src="a.png"> */</style>\n<img src="a.png">\n')
    page = site(tmp_path, before)
    changes = run(tmp_path, {"a.png": "Only me"})
    assert [c.line for c in changes] == [4]
    assert page.read_bytes() == before[:-1].replace(b'\n<img src="a.png">', b'\n<img src="a.png" alt="Only me">') + b"\n"
    assert_spliced(before, page.read_bytes(), b"", b' alt="Only me"')


def test_relative_src_in_subfolder_and_root_relative(tmp_path):
    before = b'<img src="../img/a%20b.png"><img src="/img/a%20b.png"><img src="img/a b.png">'
    page = site(tmp_path, before, name="docs/page.htm", images=("../img/a b.png",))
    refs = html_alt.scan(tmp_path)
    assert [r.image_path for r in refs[:2]] == [tmp_path / "img" / "a b.png"] * 2
    assert refs[2].image_path == tmp_path / "docs" / "img" / "a b.png"
    changes = run(tmp_path, {"img/a b.png": "Two"})
    assert len(changes) == 2
    assert page.read_bytes() == b'<img src="../img/a%20b.png" alt="Two"><img src="/img/a%20b.png" alt="Two">' \
                                b'<img src="img/a b.png">'
    assert html_alt.undescribed(html_alt.scan(tmp_path), {}) == [html_alt.scan(tmp_path)[2]]


def test_remote_and_data_sources_skipped(tmp_path):
    site(tmp_path, b'<img src="https://x.org/a.png"><img src="//cdn/a.png"><img src="data:image/png;base64,AA==">'
                   b'<IMG SRC="HTTP://x/a.png"><img src="mailto:x"><img src="">')
    assert html_alt.scan(tmp_path) == []


def test_non_utf8_bytes_survive(tmp_path):
    before = b'<p>caf\xe9 \xff\xfe broken \x80</p>\n<img src="a.png">\n<p>\xc3\xa9 ok</p>'
    page = site(tmp_path, before)
    run(tmp_path, {"a.png": "Café sign"})
    assert page.read_bytes() == before.replace(b'"a.png">', b'"a.png" alt="Caf\xc3\xa9 sign">')


def test_meta_charset_is_kept(tmp_path):
    before = '<meta charset="iso-8859-1"><p>Straße</p><img src="a.png">'.encode("latin-1")
    page = site(tmp_path, before)
    run(tmp_path, {"a.png": "Café ☕"})
    # latin-1 has é but no ☕: the cup becomes a character reference, not a '?'
    assert page.read_bytes() == before.replace(b'"a.png">', b'"a.png" alt="Caf\xe9 &#9749;">')


def test_utf8_bom_and_multibyte_before_the_tag(tmp_path):
    before = '\ufeff<p>日本語 ☕</p>\n<img src="a.png">'.encode()
    page = site(tmp_path, before)
    run(tmp_path, {"a.png": "猫"})
    assert page.read_bytes() == before.replace(b'"a.png">', '"a.png" alt="猫">'.encode())


def test_backups_are_kept_and_not_clobbered(tmp_path):
    original = b'<img src="a.png">'
    page = site(tmp_path, original)
    (tmp_path / "index.html.bak").write_bytes(b"older backup")
    run(tmp_path, {"a.png": "One"})
    assert (tmp_path / "index.html.bak").read_bytes() == b"older backup"
    assert (tmp_path / "index.html.bak.1").read_bytes() == original
    run(tmp_path, {"a.png": "Two"}, overwrite=True)
    assert (tmp_path / "index.html.bak.2").read_bytes() == b'<img src="a.png" alt="One">'
    assert page.read_bytes() == b'<img src="a.png" alt="Two">'
    assert not list(tmp_path.glob(".*.tmp"))


def test_dry_run_writes_nothing(tmp_path):
    page = site(tmp_path, b'<img src="a.png">')
    before = sorted(p.name for p in tmp_path.iterdir())
    changes = html_alt.plan(tmp_path, {tmp_path / "a.png": "Text"})
    assert len(changes) == 1 and changes[0].html_path == page and changes[0].image_path == tmp_path / "a.png"
    assert page.read_bytes() == b'<img src="a.png">'
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_several_files_and_tags(tmp_path):
    site(tmp_path, b'<img src="a.png"><br><img src="b.png" alt="x"><img src="c.png">',
         images=("a.png", "b.png", "c.png"))
    site(tmp_path, b"<IMG src='../a.png'>", name="sub/deep/p.HTML")
    (tmp_path / "notes.txt").write_text('<img src="a.png">')
    refs = html_alt.scan(tmp_path)
    assert [(r.html_path.name, r.image_path.name, r.alt) for r in refs] == [
        ("index.html", "a.png", None), ("index.html", "b.png", "x"), ("index.html", "c.png", None),
        ("p.HTML", "a.png", None)]
    changes = run(tmp_path, {"a.png": "A", "sub/a.png": "SA"})
    assert {c.html_path.name for c in changes} == {"index.html", "p.HTML"}
    assert (tmp_path / "sub/deep/p.HTML").read_bytes() == b"<IMG src='../a.png' alt=\"SA\">"
    assert (tmp_path / "index.html").read_bytes() == \
        b'<img src="a.png" alt="A"><br><img src="b.png" alt="x"><img src="c.png">'
    assert [r.image_path.name for r in html_alt.undescribed(refs, {tmp_path / "a.png": "A"})] == ["c.png", "a.png"]


def test_context_has_title_and_nearby_text(tmp_path):
    site(tmp_path, b"<title>Our Team</title><script>var x=1</script><p>Meet Ana, our lead.</p>"
                   b'<img src="a.png"><figcaption>Ana at work</figcaption>')
    ctx = html_alt.scan(tmp_path)[0].context
    assert "Our Team" in ctx and "Meet Ana, our lead." in ctx and "Ana at work" in ctx and "var x" not in ctx


def test_apply_refuses_a_file_changed_since_plan(tmp_path):
    page = site(tmp_path, b'<img src="a.png">')
    changes = html_alt.plan(tmp_path, {tmp_path / "a.png": "Text"})
    page.write_bytes(b'<p>new</p><img src="a.png">')
    with pytest.raises(InputError, match="changed since"):
        html_alt.apply(changes)
    assert page.read_bytes() == b'<p>new</p><img src="a.png">'


def test_not_a_folder(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        html_alt.scan(tmp_path / "nope")


def test_context_drops_undecodable_bytes(tmp_path):
    site(tmp_path, b'<p>Caf\xe9 menu</p><img src="a.png">')
    assert html_alt.scan(tmp_path)[0].context == 'text before: "Caf menu"'
