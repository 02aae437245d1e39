"""`oculo review`: a local page for checking extractions, with corrections kept beside the model's output."""

from typing import Any

from .core import ReviewJob, corrected_output, newest_extract_job

__all__ = ["ReviewJob", "corrected_output", "newest_extract_job", "serve"]


def serve(*args: Any, **kwargs: Any) -> None:
    from .server import serve as _serve

    return _serve(*args, **kwargs)
