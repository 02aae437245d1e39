"""oculo: run local vision-language models on private images.

    import oculo
    reply = oculo.ask("What is in this image?", ["photo.jpg"], engine="ollama", model="qwen2.5vl:3b")
    print(reply.text, reply.stats.tokens_per_s)
"""

from importlib.metadata import PackageNotFoundError, version

from .api import ask, ask_stream, chart, compare, describe, load_images, screenshot, video
from .engines import Engine, EngineSettings, ImagePart, Message, Options, Reply, Request, Stats, open_engine
from .errors import EngineError, InputError, ModelNotFound, OculoError, SchemaViolation, Unsupported

try:
    __version__ = version("oculo")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = [
    "__version__", "ask", "ask_stream", "describe", "load_images", "open_engine",
    "screenshot", "chart", "compare", "video",
    "Engine", "EngineSettings", "ImagePart", "Message", "Options", "Reply", "Request", "Stats",
    "OculoError", "InputError", "EngineError", "ModelNotFound", "SchemaViolation", "Unsupported",
]
