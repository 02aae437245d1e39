"""What `oculo serve` is told at start: request defaults, limits and security settings, in one typed place."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from ..engines.base import Options

__all__ = ["LOOPBACK_NAMES", "ServeConfig"]

# Names a browser sends for a loopback server; anything else reaching a loopback bind is DNS rebinding.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


@dataclass
class ServeConfig:
    # Defaults for requests that do not set them (`oculo serve --max-tokens/--temperature/--seed/--stop/--system`).
    defaults: Options = field(default_factory=Options)
    system: str | None = None
    # Limits: each answers 4xx before any compute.
    max_body_bytes: int = 32 * 1024 * 1024
    max_images: int = 16  # per request; the engine's own cap may be lower
    max_output_tokens: int = 8192
    max_prompt_chars: int | None = None  # None: derived from the model's context when the engine knows it
    body_timeout_s: float = 30.0  # a client that trickles its body is cut off (408)
    # Security.
    api_key: str | None = None
    bind: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()
    allow_url_images: bool = False
    url_max_bytes: int = 20 * 1024 * 1024
    url_timeout_s: float = 10.0
    # Which resolved addresses a URL fetch may connect to; replaced only by tests (a loopback canary).
    url_address_ok: Callable[[ipaddress.IPv4Address | ipaddress.IPv6Address, int], bool] | None = None

    def host_allowed(self, host: str | None) -> bool:
        """Host-header allow-list: enforced when bound to loopback, or whenever --allow-host names hosts."""
        if host is None:  # HTTP/1.0 without Host: nothing to rebind
            return True
        name = _strip_port(host.strip().lower())
        if name in self.allowed_hosts or "*" in self.allowed_hosts:
            return True
        if not self.allowed_hosts and not _is_loopback_bind(self.bind):
            return True
        return name in LOOPBACK_NAMES or name.endswith(".localhost") or name == self.bind.lower()


def _strip_port(host: str) -> str:
    if host.startswith("["):  # [::1]:8080
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_loopback_bind(bind: str) -> bool:
    if bind.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind.strip("[]")).is_loopback
    except ValueError:
        return False
