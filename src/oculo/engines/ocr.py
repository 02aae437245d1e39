"""Classic OCR engines: text with boxes and confidences, no language model. Offline, deterministic, fast on a CPU.

- `rapidocr`: PaddleOCR's detection and recognition models on onnxruntime; the wheel carries the models.
- `tesseract`: the `tesseract` program, called once per page with TSV output.

Both hand their words to `ocr_layout.assemble_lines`, so lines and reading order come out the same way whichever
engine read the page.

Both sit behind the same seam as the vision models (`Engine`): a name, a model, `capabilities()` (how many pages
may be read at once, what resolution they want) and `generate` (the text of each request's images). `read` gives a
page's lines with boxes and confidences, which only classic OCR has.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import subprocess
import threading
import time
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..errors import EngineError, NotInstalled, Unsupported
from .base import Capabilities, Chunk, Engine, Reply, Request, Stats
from .ocr_layout import Box, Line, Word, assemble_lines, split_phrase

__all__ = ["Word", "Line", "OcrPage", "OcrEngine", "RapidOcrEngine", "TesseractEngine", "get_ocr_engine",
           "OCR_ENGINES", "OCR_DPI", "OCR_MAX_PIXELS", "RAPIDOCR_TUNED", "RAPIDOCR_DEFAULTS",
           "parse_tesseract_tsv"]

OCR_ENGINES = ("rapidocr", "tesseract")
TESSERACT_MISSING = "tesseract is not installed; apt-get install tesseract-ocr (or brew install tesseract)"


@dataclass
class OcrPage:
    lines: list[Line]
    width: int
    height: int
    engine: str = ""
    seconds: float | None = None

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def to_dict(self, words: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"engine": self.engine, "width": self.width, "height": self.height,
                               "lines": [line.to_dict(words) for line in self.lines]}
        if self.seconds is not None:
            out["seconds"] = round(self.seconds, 3)
        return out


# Classic OCR wants resolution, not a VLM's pixel budget: a page at 200 dpi stays well under this many pixels.
# OCR_DPI renders text PDFs (scans are read at their own resolution). Measured with bench/ocr.py --dpi on the shared
# invoices (13 pages, 51 values): rapidocr finds 98.0% at 150, 200 and 300 dpi alike; tesseract 92.2%, 96.1%, 92.2%,
# at 1.3, 1.6 and 2.2 s/page. 200 is the best of the three for both.
OCR_MAX_PIXELS = 40_000_000
OCR_DPI = 200
DETECT_SIDE = 960  # RapidOCR's detector sees the page shrunk to this long side; recognition keeps full resolution
# RapidOCR's settings (rapidocr 3.x names), tuned for pages on a small CPU; `bench/ocr.py` measures them side by side
# with RapidOCR's own defaults (RAPIDOCR_DEFAULTS: its angle classifier on, detection on the page at up to 2000 px).
# - No per-line angle classifier: it runs on every line and only catches upside-down lines, and whole pages are
#   turned upright before OCR (`media.orientation`); only without tesseract, which that needs, is it kept.
# - Detection on the page shrunk to DETECT_SIDE px on its long side (RapidOCR's default keeps its short side at 736 px
#   or more, i.e. the whole page at up to 2000 px): the detector only needs to find the lines, and it was a third of
#   the time a page took. Recognition still crops each line from the page at full resolution. 960 px found every
#   value 1280 px did on the shared invoices (born-digital at 200 dpi and scanned at 150) and on generated scans.
# - Recognition one line at a time with no minimum width: RapidOCR pads every line in a batch to the widest one and
#   to at least 320 px (at 48 px high), and an invoice is mostly short cells ("$16.94"), so padding was about a third
#   of the recognizer's work.
# - onnxruntime's own thread count (one per core) unless `threads` says otherwise. On the 2-core bench machine with
#   one other busy process, 2 threads read a page in 2.76 s against 3.93 s for 1 thread (same pages, alternated),
#   though at 1.3x the CPU time: on a machine whose cores are all busy with other work, `threads=1` is the better
#   choice.
RAPIDOCR_TUNED: dict[str, Any] = {"Global.use_cls": False, "Global.max_side_len": 4000,
                                  "Det.limit_type": "max", "Det.limit_side_len": DETECT_SIDE,
                                  "Rec.rec_batch_num": 1, "Rec.rec_img_shape": [3, 48, 48]}
RAPIDOCR_DEFAULTS: dict[str, Any] = {}  # RapidOCR as it comes, for benchmarks
RAPIDOCR_THREADS: int | None = None


class OcrEngine(Engine):
    """A classic OCR engine behind the seam: its model is its own name, it reads images and takes no prompt.

    `generate` answers each request with the text of its images (a request's words are not read: there is no
    language model to read them); `read` gives one page's lines with boxes and confidences.
    """

    name = "ocr"
    parallel = 1  # pages read at once; the runner takes its concurrency from here through `capabilities()`

    def __init__(self) -> None:
        super().__init__(self.name)

    @abstractmethod
    def read(self, image: Image.Image) -> OcrPage: ...

    def _capabilities(self) -> Capabilities:
        return Capabilities(vision=True, schema=False, streaming=False, parallel=self.parallel, batch=1,
                            max_pixels=OCR_MAX_PIXELS, min_side=1)

    def _generate(self, requests: list[Request]) -> list[Reply]:
        replies = []
        for request in requests:
            t0 = time.perf_counter()
            text = "\n\n".join(self.read(part.image).text for part in request.images)
            replies.append(Reply(text, self.model, self.name, Stats(total_s=time.perf_counter() - t0),
                                 finish_reason="stop"))
        return replies

    def _stream(self, request: Request) -> Iterator[Chunk]:  # not called: capabilities say no streaming
        reply = self._generate([request])[0]
        yield Chunk(reply.text)
        yield Chunk("", reply)


class RapidOcrEngine(OcrEngine):
    """PP-OCR models through `rapidocr` (3.x); each detection is a phrase, which the layout step joins into lines.

    Its pipeline keeps per-call state, so it reads one page at a time (parallel = 1). The models load on the first
    page, so a run whose pages are all cached never pays for importing them.
    """

    name = "rapidocr"

    def __init__(self, *, text_score: float = 0.5, threads: int | None = RAPIDOCR_THREADS,
                 settings: dict[str, Any] | None = None) -> None:
        """`threads`: onnxruntime's threads per model (None: its own choice, one per core); `settings`: RapidOCR
        parameters by their dotted names, in place of RAPIDOCR_TUNED (pass RAPIDOCR_DEFAULTS for RapidOCR's own)."""
        super().__init__()
        for module in ("rapidocr", "onnxruntime"):
            if importlib.util.find_spec(module) is None:
                raise NotInstalled(f"rapidocr is not installed ({module}); pip install 'oculo[ocr]' "
                                   "(rapidocr and onnxruntime)")
        tuned = RAPIDOCR_TUNED if settings is None else settings
        if settings is None and not shutil.which("tesseract"):
            # Pages are turned upright with tesseract's help (`media.orientation`); without it an upside-down page
            # comes as it is, and the per-line angle classifier is what still reads it.
            tuned = {**tuned, "Global.use_cls": True}
        self._params: dict[str, Any] = {"Global.log_level": "error", "Global.text_score": text_score, **tuned}
        if threads:
            self._params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
            self._params["EngineConfig.onnxruntime.inter_op_num_threads"] = 1
        self._ocr: Any = None
        # onnxruntime sessions may run concurrently, but rapidocr's pipeline keeps per-call state: one page at a time.
        self._lock = threading.Lock()

    def _start(self) -> Any:
        if self._ocr is None:
            try:
                from rapidocr import RapidOCR

                self._ocr = RapidOCR(params=self._params)
            except Exception as e:  # noqa: BLE001 - missing onnxruntime, unreadable models: say which, in one line
                raise NotInstalled(f"rapidocr cannot start ({_one_line(e)}); reinstall it: "
                                   "pip install --force-reinstall rapidocr onnxruntime") from None
        return self._ocr

    def read(self, image: Image.Image) -> OcrPage:
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        t0 = time.perf_counter()
        with self._lock:
            ocr = self._start()
            try:
                # A PIL image, not an array: rapidocr takes arrays as BGR. Character boxes let the layout step put
                # back the spaces its recognizer drops on soft scans.
                out = ocr(rgb, return_word_box=True, return_single_char_box=True)
            except Exception as e:  # noqa: BLE001
                raise EngineError(f"rapidocr failed on a {rgb.width}x{rgb.height} image ({_one_line(e)})") from None
        words = []
        if out.boxes is not None and out.txts is not None:
            gray = np.asarray(rgb.convert("L"))
            char_lists = list(out.word_results or ()) if len(out.word_results or ()) == len(out.txts) else []
            for k, (quad, text, score) in enumerate(zip(out.boxes, out.txts, out.scores)):
                chars = _char_boxes(char_lists[k]) if char_lists else None
                words.extend(split_phrase(str(text), _bbox(quad), float(score), chars, gray))
        return OcrPage(assemble_lines(words), rgb.width, rgb.height, self.name, time.perf_counter() - t0)


def _bbox(quad: Any) -> Box:
    xs = [float(p[0]) for p in quad]
    ys = [float(p[1]) for p in quad]
    return (min(xs), min(ys), max(xs), max(ys))


def _char_boxes(items: Any) -> list[tuple[str, Box]] | None:
    """rapidocr's (char, score, quad) triples as (char, box), or None when they are not that shape."""
    try:
        return [(str(c), _bbox(quad)) for c, _score, quad in items]
    except (TypeError, ValueError, IndexError):
        return None


class TesseractEngine(OcrEngine):
    """The `tesseract` program (4 or 5) with TSV output: words, boxes and confidences.

    One single-threaded process per page, so it reads one page per core at once (parallel = the CPU count).
    """

    name = "tesseract"

    def __init__(self, *, lang: str = "eng", psm: int = 3, binary: str | None = None, timeout: float = 300) -> None:
        super().__init__()
        self.parallel = max(1, os.cpu_count() or 1)
        self.binary = binary or shutil.which("tesseract")
        if not self.binary:
            raise NotInstalled(TESSERACT_MISSING)
        self.lang, self.psm, self.timeout = lang, psm, timeout
        installed = self._languages()
        missing = [code for code in lang.split("+") if code not in installed]
        if missing:
            have = ", ".join(sorted(installed)) or "none"
            raise NotInstalled(f"tesseract has no {'+'.join(missing)} language data (installed: {have}); "
                               f"apt-get install tesseract-ocr-{missing[0]} (or brew install tesseract-lang)")

    def _run(self, args: list[str], data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        # With OpenMP, tesseract spins several threads per page and is 2-3x slower on a small machine; one is best.
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        assert self.binary is not None  # __init__ refuses to go on without one
        try:
            return subprocess.run([self.binary, *args], input=data, capture_output=True, env=env,
                                  timeout=self.timeout, check=False)
        except FileNotFoundError:
            raise NotInstalled(TESSERACT_MISSING) from None
        except subprocess.TimeoutExpired:
            # Not transient: the same page takes as long again, so a retry would only triple the wait.
            raise EngineError(f"tesseract took over {self.timeout:g} s on one page; shrink the image or lower --dpi") \
                from None

    def _languages(self) -> set[str]:
        proc = self._run(["--list-langs"])
        lines = (proc.stdout or proc.stderr).decode("utf-8", "replace").splitlines()
        return {ln.strip() for ln in lines[1:] if ln.strip()}  # the first line is "List of available languages..."

    def read(self, image: Image.Image) -> OcrPage:
        gray = image.convert("L")
        buf = io.BytesIO()
        gray.save(buf, "PPM")  # a raw PGM through the pipe: no compression cost, and leptonica reads it from stdin
        # No --dpi: an image's dpi tag outlives any resize, and tesseract's own estimate from the text height is close.
        args = ["stdin", "stdout", "-l", self.lang, "--psm", str(self.psm), "tsv"]
        t0 = time.perf_counter()
        proc = self._run(args, buf.getvalue())
        if proc.returncode != 0:
            err = [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
            raise EngineError(f"tesseract failed ({err[-1] if err else f'exit code {proc.returncode}'}); "
                              "run it by hand on the image to see why")
        words = parse_tesseract_tsv(proc.stdout.decode("utf-8", "replace"))
        return OcrPage(assemble_lines(words), image.width, image.height, self.name, time.perf_counter() - t0)


def parse_tesseract_tsv(tsv: str) -> list[Word]:
    """Words (level 5 rows) from tesseract's TSV; other levels are its own layout, which we redo ourselves."""
    words = []
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        try:
            left, top, width, height = (int(c) for c in cols[6:10])
            conf = float(cols[10])
        except ValueError:
            continue
        box: Box = (left, top, left + width, top + height)
        words.append(Word(cols[11].strip(), box, min(max(conf / 100, 0.0), 1.0)))
    return words


_CACHE: dict[tuple[str, str], OcrEngine] = {}
_CACHE_LOCK = threading.Lock()


def get_ocr_engine(name: str, **options: Any) -> OcrEngine:
    """A shared engine by name ("rapidocr" or "tesseract"): models load once per process and options set."""
    key = (name.lower(), repr(sorted(options.items())))  # repr: option values may be dicts (rapidocr's settings)
    with _CACHE_LOCK:
        engine = _CACHE.get(key)
        if engine is None:
            if key[0] == "rapidocr":
                engine = RapidOcrEngine(**options)
            elif key[0] == "tesseract":
                engine = TesseractEngine(**options)
            else:
                raise Unsupported(f"unknown OCR engine {name!r}; choose {' or '.join(OCR_ENGINES)}")
            _CACHE[key] = engine
        return engine


def _one_line(e: BaseException) -> str:
    return (" ".join(str(e).split()) or "no details")[:200]
