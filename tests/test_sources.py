"""Expanding user inputs: real files in tmp_path, stdin as a BytesIO, URLs from a real server on 127.0.0.1."""

from __future__ import annotations

import io
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from oculo.errors import InputError
from oculo.media import ImageLimits, Source, expand, fetch_url, load


def png_bytes(color=(255, 0, 0), size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def make(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes())


def names(sources: list[Source]) -> list[str]:
    return [Path(s.name).as_posix() for s in sources]


def one_line(err: pytest.ExceptionInfo, *parts: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg and all(p in msg for p in parts), msg
    return msg


# --- paths, globs, folders -----------------------------------------------------------------------------------------


def test_plain_paths_keep_order_and_dedupe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make(tmp_path, "b.png", "a.png")
    got = expand(["b.png", Path("a.png"), "b.png", "./b.png"])
    assert names(got) == ["b.png", "a.png"]
    assert got[0].read() == (tmp_path / "b.png").read_bytes()


def test_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        expand(["photo.jpg"])
    assert str(err.value) == "photo.jpg: no such file; check the path"


def test_glob(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make(tmp_path, "2.jpg", "1.jpg", "x.png", "sub/3.jpg", "sub/deep/4.png")
    assert names(expand(["*.jpg"])) == ["1.jpg", "2.jpg"]
    assert names(expand(["**/*.png"])) == ["sub/deep/4.png", "x.png"]
    assert names(expand(["**/*.png"], exclude=["sub/*"])) == ["x.png"]


def test_glob_without_matches(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        expand(["*.jpg"])
    one_line(err, "*.jpg", "no files match")


def test_folder_recursion_sorted_images_only(tmp_path):
    make(tmp_path, "b.jpg", "a.PNG", "sub/c.webp", "sub/deep/d.tiff", "z/e.gif", ".hidden/x.jpg", "._junk.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    got = expand([tmp_path])
    rel = [Path(s.name).relative_to(tmp_path).as_posix() for s in got]
    assert rel == ["a.PNG", "b.jpg", "sub/c.webp", "sub/deep/d.tiff", "z/e.gif"]
    assert all(s.path is not None and s.path.is_file() for s in got)


def test_folder_include_exclude(tmp_path):
    make(tmp_path, "a.jpg", "sub/b.jpg", "sub/c.png", "sub/deep/d.jpg", "other/e.jpg")

    def rel(**kw):
        return [Path(s.name).relative_to(tmp_path).as_posix() for s in expand([tmp_path], **kw)]

    assert rel(include=["sub/*"]) == ["sub/b.jpg", "sub/c.png", "sub/deep/d.jpg"]
    assert rel(include=["sub/*"], exclude=["*.png"]) == ["sub/b.jpg", "sub/deep/d.jpg"]
    assert rel(exclude=["sub/deep/*", "other/*"]) == ["a.jpg", "sub/b.jpg", "sub/c.png"]
    with pytest.raises(InputError) as err:
        rel(include=["*.gif"])
    one_line(err, str(tmp_path), "include/exclude")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("no pictures")
    with pytest.raises(InputError) as err:
        expand([tmp_path / "empty"])
    one_line(err, "empty", "no images")


def test_folder_and_file_overlap_dedupes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make(tmp_path, "pics/a.jpg", "pics/b.jpg")
    assert names(expand(["pics/b.jpg", "pics", "pics/*.jpg"])) == ["pics/b.jpg", "pics/a.jpg"]


def test_file_deleted_after_expand(tmp_path):
    make(tmp_path, "gone.png")
    (src,) = expand([tmp_path / "gone.png"])
    (tmp_path / "gone.png").unlink()
    with pytest.raises(InputError) as err:
        src.read()
    one_line(err, "gone.png", "no such file")


# --- stdin and bytes -----------------------------------------------------------------------------------------------


def test_stdin_bytes():
    data = png_bytes((0, 0, 255))
    (src,) = expand(["-", "-"], stdin=io.BytesIO(data))
    assert src.name == "<stdin>" and src.read() == data
    part = load(src, ImageLimits())
    assert part.name == "<stdin>" and part.image.getpixel((1, 1)) == (0, 0, 255)


def test_raw_bytes_inputs(tmp_path):
    make(tmp_path, "a.png")
    got = expand([b"one", tmp_path / "a.png", bytearray(b"two")])
    assert [s.name for s in got][::2] == ["<bytes>", "<bytes 2>"]
    assert got[0].read() == b"one" and got[2].read() == b"two"


def test_unsupported_scheme():
    with pytest.raises(InputError) as err:
        expand(["ftp://example.com/a.jpg"])
    one_line(err, "ftp://example.com/a.jpg", "http")


# --- URLs, served for real -------------------------------------------------------------------------------------------

IMAGE = png_bytes((0, 255, 0), (64, 48))
BIG = b"\xff" * 200_000


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path == "/img.png":
            self._send(200, IMAGE, "image/png")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/img.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big":
            self._send(200, BIG, "application/octet-stream")
        elif self.path == "/big-chunked":  # no Content-Length: the cap must hold while streaming
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for i in range(0, len(BIG), 8192):
                self.wfile.write(BIG[i : i + 8192])
        else:
            self._send(404, b"not found", "text/plain")

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_url_source_fetches_lazily_and_loads(server):
    url = f"{server}/img.png"
    (src,) = expand([url, url])
    assert src.name == url and src.url == url and src.data is None
    assert src.read() == IMAGE
    assert load(src, ImageLimits()).image.size == (64, 48)


def test_url_follows_redirects(server):
    assert fetch_url(f"{server}/redirect") == IMAGE


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_url_over_size_cap(server, path):
    with pytest.raises(InputError) as err:
        fetch_url(server + path, max_bytes=100_000)
    one_line(err, server + path, "larger than 97.7 KiB", "download it")
    assert len(fetch_url(server + path, max_bytes=len(BIG))) == len(BIG)


def test_default_cap_message():
    from oculo.media.sources import _size

    assert _size(50 * 2**20) == "50 MiB"


def test_url_404(server):
    url = f"{server}/missing.jpg"
    with pytest.raises(InputError) as err:
        fetch_url(url)
    assert one_line(err, url, "404") == f"{url}: HTTP 404 Not Found; check the URL"


def test_url_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again on exit: nothing listens there
    url = f"http://127.0.0.1:{port}/a.jpg"
    with pytest.raises(InputError) as err:
        fetch_url(url)
    one_line(err, url, "cannot fetch")
