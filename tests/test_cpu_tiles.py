"""On CPU a tiling processor (SmolVLM/Idefics3) is not allowed to enlarge an image into more tiles than it fills.

SmolVLM's processor scales every image's longest edge up to 4x its tile before cutting tiles, so a 512 px photo
costs 17 vision-tower passes and 1,088 prompt tokens; on a CPU each pass is about a second before the first token.
The tiny SmolVLM here has 32 px tiles and a 96 px maximum (3x3 tiles plus the global view)."""

from __future__ import annotations

import pytest

from oculo import Request
from oculo.engines import ImagePart
from oculo.engines.local import TransformersEngine, _no_upscale
from oculo.testing import make_image, tiny_model

pytest.importorskip("num2words")  # SmolVLM's processor imports it


@pytest.fixture(scope="module")
def smol(tmp_path_factory) -> TransformersEngine:
    return TransformersEngine(str(tiny_model("smolvlm", tmp_path_factory.mktemp("smol"))), device="cpu",
                              dtype="float32")


def _tiles(engine: TransformersEngine, w: int, h: int) -> int:
    request = Request.simple("hi", [ImagePart(make_image(w, h), "x.png")])
    return int(engine._inputs(engine._load(), [request])["pixel_values"].shape[1])


@pytest.mark.parametrize(("w", "h", "tiles"), [
    (20, 10, 1),    # smaller than one tile: one tile, no split (it used to become 3x2 tiles + the global view)
    (32, 32, 1),    # exactly one tile
    (60, 30, 3),    # two tiles wide: 2x1 + the global view
    (300, 150, 7),  # larger than the maximum: the processor's own 3x2 + global, as before
])
def test_cpu_images_get_the_tiles_they_fill(smol, w, h, tiles):
    assert _tiles(smol, w, h) == tiles


def test_an_image_still_answers_and_other_processors_are_untouched(smol, tiny_qwen):
    reply = smol.generate([Request.simple("hi", [ImagePart(make_image(20, 10), "x.png")])])[0]
    assert reply.error is None and reply.stats.prompt_tokens < 40  # one 4-token tile, not 7 tiles' 28+ tokens
    qwen = TransformersEngine(str(tiny_qwen), device="cpu", dtype="float32")
    assert _no_upscale(qwen._load().processor, [make_image(20, 10)]) == {}  # Qwen sizes by a pixel budget
    assert _no_upscale(smol._load().processor, [make_image(300, 150)]) == {}  # already at the maximum
