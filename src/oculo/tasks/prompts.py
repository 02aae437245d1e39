"""The prompts, kept as data in prompts.toml, and the user's --prompt-file that replaces one."""

from __future__ import annotations

import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..errors import InputError

__all__ = ["fill", "parts", "prompt", "tasks", "read_prompt_file"]

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, str]]:
    return tomllib.loads(resources.files(__package__).joinpath("prompts.toml").read_text(encoding="utf-8"))


def tasks() -> list[str]:
    return sorted(_table())


def parts(task: str) -> list[str]:
    return list(_table()[task])


def prompt(task: str, part: str = "prompt") -> str:
    """A task's prompt (or one of its other parts: "markdown", "retry", ...), exactly as prompts.toml has it."""
    try:
        return _table()[task][part]
    except KeyError:
        raise KeyError(f"no prompt {task}.{part} in prompts.toml") from None


def fill(template: str, **values: object) -> str:
    """Put values into a prompt's {placeholders}. Not str.format: a user's prompt may hold other braces
    (a JSON example), and may leave any placeholder out."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", str(value))
    return template


def read_prompt_file(path: str | Path) -> str:
    """A user's prompt: the whole file, surrounding blank lines dropped; an empty or unreadable file is one line."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such prompt file; check the path") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: the prompt file is not UTF-8 text; save it as UTF-8") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read the prompt file ({e.strerror or e})") from None
    text = text.strip("\n").rstrip()
    if not text.strip():
        raise InputError(f"{path}: the prompt file is empty; write the prompt in it")
    return text
