"""Bad input through the real CLI: one line naming the file and the fix, exit 1; usage errors exit 2."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from .conftest import cli_env, oculo

pytestmark = pytest.mark.slow


def _bomb_png(w: int, h: int) -> bytes:
    # A valid PNG header claiming a huge canvas; decoding must refuse it before allocating anything.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (200, 150), (10, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


BAD = {
    "empty.jpg": b"",
    "truncated.jpg": _jpeg_bytes()[:400],
    "notes.png": b"this is a text file, not an image\n",
    "bomb.png": _bomb_png(30000, 30000),
    "drawing.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_image_is_one_line_naming_the_file(served, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(BAD[name])
    proc = oculo("ask", "hi", str(path), "--engine", "ollama", "-m", "tiny",
                 env=cli_env(OLLAMA_HOST=served.removeprefix("http://")))
    err = proc.stderr.decode().strip()
    assert proc.returncode == 1, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert name in err and err.startswith("oculo: error:")


def test_missing_file_is_one_line(tmp_path):
    proc = oculo("ask", "hi", str(tmp_path / "nope.jpg"), "--engine", "ollama", "-m", "x",
                 env=cli_env(OLLAMA_HOST="127.0.0.1:9"))
    err = proc.stderr.decode().strip()
    assert proc.returncode == 1 and len(err.splitlines()) == 1 and "nope.jpg" in err


def test_unreachable_ollama_is_one_line(images):
    proc = oculo("ask", "hi", str(images["small"]), "--engine", "ollama", "-m", "x",
                 env=cli_env(OLLAMA_HOST="127.0.0.1:9"))
    err = proc.stderr.decode().strip()
    assert proc.returncode == 1 and len(err.splitlines()) == 1 and "ollama serve" in err


def test_debug_shows_the_traceback(tmp_path):
    proc = oculo("--debug", "ask", "hi", str(tmp_path / "nope.jpg"), "--engine", "ollama", "-m", "x",
                 env=cli_env(OLLAMA_HOST="127.0.0.1:9"))
    assert proc.returncode == 1 and "Traceback" in proc.stderr.decode()


@pytest.mark.parametrize("args", [("ask",), ("describe",), ("ask", "hi", "--engine", "nope"),
                                  ("ask", "hi", "--max-tokens", "0"), ("ask", "hi", "-o", "only-key")])
def test_usage_errors_exit_2(args):
    assert oculo(*args).returncode == 2


def test_bad_schema_file_is_one_line(tmp_path, images):
    bad = tmp_path / "schema.json"
    bad.write_text("{not json")
    proc = oculo("ask", "hi", str(images["small"]), "--schema", str(bad), "--engine", "ollama", "-m", "x",
                 env=cli_env(OLLAMA_HOST="127.0.0.1:9"))
    err = proc.stderr.decode().strip()
    assert proc.returncode == 1 and len(err.splitlines()) == 1 and "schema.json" in err
