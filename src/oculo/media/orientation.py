"""Pages the right way up: a scan fed in sideways or upside down is turned before OCR or a model reads it.

Tesseract's orientation and script detection (`--psm 0`) tells a page's rotation from its glyphs in about a second,
so it is used whenever the `tesseract` program is installed (with its `osd` data); without it pages are taken as they
come. A page is turned only when OSD is sure (confidence at least `MIN_CONFIDENCE`): a page with little text, or a
photo, stays as it is.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess

from PIL import Image

__all__ = ["detect_rotation", "upright"]

MIN_CONFIDENCE = 2.0
OSD_SIDE = 2000  # OSD needs letters a dozen pixels high, not more: larger pages are shrunk to this long side
_ROTATE = re.compile(r"^Rotate:\s*(\d+)", re.MULTILINE)
_CONFIDENCE = re.compile(r"^Orientation confidence:\s*([\d.]+)", re.MULTILINE)


def detect_rotation(image: Image.Image, *, timeout: float = 60) -> int:
    """Degrees (0, 90, 180, 270) to turn the page clockwise to make it upright; 0 when unsure or without tesseract."""
    binary = shutil.which("tesseract")
    if not binary:
        return 0
    gray = image.convert("L")
    if max(gray.size) > OSD_SIDE:
        scale = OSD_SIDE / max(gray.size)
        gray = gray.resize((max(1, round(gray.width * scale)), max(1, round(gray.height * scale))))
    buf = io.BytesIO()
    gray.save(buf, "PPM")
    try:
        proc = subprocess.run([binary, "stdin", "stdout", "--psm", "0"], input=buf.getvalue(), capture_output=True,
                              timeout=timeout, check=False, env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    except (OSError, subprocess.TimeoutExpired):
        return 0  # orientation is a courtesy: a page OSD cannot read is read as it is
    out = proc.stdout.decode("utf-8", "replace")
    rotate, confidence = _ROTATE.search(out), _CONFIDENCE.search(out)
    if proc.returncode != 0 or not rotate or not confidence or float(confidence[1]) < MIN_CONFIDENCE:
        return 0
    # OSD's "Rotate" is how far the page was turned counter-clockwise; turning it back is that much clockwise.
    degrees = int(rotate[1]) % 360
    return degrees if degrees in (90, 180, 270) else 0


def upright(image: Image.Image) -> tuple[Image.Image, int]:
    """The page turned upright, and by how many degrees clockwise it was turned (0: as it came)."""
    degrees = detect_rotation(image)
    return (image.rotate(-degrees, expand=True) if degrees else image), degrees
