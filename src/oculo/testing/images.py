"""Deterministic test images (no torch / transformers needed)."""

from __future__ import annotations

import random

__all__ = ["make_image"]


def make_image(width: int, height: int, seed: int = 0):
    """A deterministic, colorful RGB ``PIL.Image.Image`` of ``width`` x ``height`` pixels.

    A smooth two-color gradient with a few solid rectangles and ellipses on top; the same
    ``(width, height, seed)`` always gives the same pixels.
    """
    from PIL import Image, ImageDraw

    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    rng = random.Random(f"oculo-test-image:{seed}")
    c0 = [rng.randrange(256) for _ in range(3)]
    c1 = [rng.randrange(256) for _ in range(3)]
    # Diagonal gradient, built row by row from bytes (fast, no numpy needed).
    denom = max(width + height - 2, 1)
    data = bytearray(width * height * 3)
    i = 0
    for y in range(height):
        for x in range(width):
            t = (x + y) / denom
            data[i] = int(c0[0] + (c1[0] - c0[0]) * t)
            data[i + 1] = int(c0[1] + (c1[1] - c0[1]) * t)
            data[i + 2] = int(c0[2] + (c1[2] - c0[2]) * t)
            i += 3
    image = Image.frombytes("RGB", (width, height), bytes(data))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x0, x1 = sorted(rng.randrange(width + 1) for _ in range(2))
        y0, y1 = sorted(rng.randrange(height + 1) for _ in range(2))
        fill = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.rectangle([x0, y0, x1, y1], fill=fill)
        else:
            draw.ellipse([x0, y0, x1, y1], fill=fill)
    return image
