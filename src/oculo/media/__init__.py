"""Image inputs: where they come from (`sources`) and how they become model-ready RGB images (`images`)."""

from .images import (
    DEFAULT_MAX_PIXELS,
    MAX_SOURCE_PIXELS,
    ImageLimits,
    ImagePart,
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
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "ImagePart",
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
