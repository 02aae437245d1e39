"""Image inputs: where they come from (`sources`) and how they become model-ready RGB images (`images`)."""

from .images import (
    MAX_SOURCE_PIXELS,
    ImageLimits,
    decode,
    encode,
    fit_size,
    load,
    load_all,
    to_base64,
    to_data_uri,
)
from .sources import IMAGE_EXTENSIONS, MAX_URL_BYTES, Source, expand, fetch_url

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_SOURCE_PIXELS",
    "MAX_URL_BYTES",
    "ImageLimits",
    "Source",
    "decode",
    "encode",
    "expand",
    "fetch_url",
    "fit_size",
    "load",
    "load_all",
    "to_base64",
    "to_data_uri",
]
