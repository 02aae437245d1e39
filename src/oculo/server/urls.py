"""`image_url` http(s) fetching for /v1, off unless `oculo serve --allow-url-images`.

A server that fetches what clients name can be turned on its own network (cloud metadata, admin ports), so:
each hop's host is resolved first and every resolved address must be public; the connection then goes to that
checked address (the name is never resolved twice, so DNS rebinding cannot swap it), redirects are followed by
hand through the same check, and size and time are capped. Errors never say why a connection failed: that
would map which local ports are open.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable

import httpx

from ..errors import InputError

__all__ = ["address_ok", "fetch_image_bytes"]

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_MAX_REDIRECTS = 3


def address_ok(ip: IP, port: int = 443) -> bool:
    """Public unicast only: no private, loopback, link-local (169.254.169.254), shared, reserved or multicast."""
    mapped = getattr(ip, "ipv4_mapped", None) or getattr(ip, "sixtofour", None)
    if mapped is not None and not address_ok(mapped, port):
        return False
    return ip.is_global and not ip.is_multicast and not ip.is_private and not ip.is_link_local


def _resolve(host: str, port: int) -> list[IP]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def fetch_image_bytes(url: str, name: str, *, max_bytes: int, timeout_s: float,
                      ok: Callable[[IP, int], bool] | None = None) -> bytes:
    ok = ok or address_ok
    deadline = time.monotonic() + timeout_s
    cannot = InputError(f"{name}: cannot fetch the image URL; send the image as a data: URI instead")
    with httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False, trust_env=False,
                      headers={"User-Agent": "oculo"}) as client:
        for _ in range(_MAX_REDIRECTS + 1):
            try:
                u = httpx.URL(url)
            except (httpx.InvalidURL, ValueError):
                raise InputError(f"{name}: not a valid URL") from None
            if u.scheme not in ("http", "https") or not u.host:
                raise InputError(f"{name}: only http(s) image URLs can be fetched")
            port = u.port or (443 if u.scheme == "https" else 80)
            addresses = _resolve(u.host, port)
            if not addresses:
                raise InputError(f"{name}: cannot resolve the image URL's host; check the URL")
            if not all(ok(ip, port) for ip in addresses):
                raise InputError(f"{name}: the image URL points to a private, loopback or link-local address; "
                                 "this server fetches public URLs only")
            # Connect to the address just checked; Host and TLS SNI keep the name.
            target = u.copy_with(host=str(addresses[0]))
            try:
                with client.stream("GET", target, headers={"Host": u.netloc.decode("ascii")},
                                   extensions={"sni_hostname": u.host}) as resp:
                    if resp.is_redirect and "location" in resp.headers:
                        url = str(u.join(resp.headers["location"]))
                        continue
                    if resp.status_code >= 400:
                        raise InputError(f"{name}: the image URL answered HTTP {resp.status_code}; check the URL")
                    buf = bytearray()
                    for chunk in resp.iter_bytes():  # decompressed, so the cap holds against a gzip bomb too
                        buf += chunk
                        if len(buf) > max_bytes:
                            raise InputError(f"{name}: the image at the URL is larger than {max_bytes:,} bytes")
                        if time.monotonic() > deadline:
                            raise InputError(f"{name}: the image URL took longer than {timeout_s:g} s")
                    return bytes(buf)
            except httpx.TimeoutException:
                raise InputError(f"{name}: the image URL took longer than {timeout_s:g} s") from None
            except httpx.HTTPError:
                raise cannot from None
        raise InputError(f"{name}: the image URL redirects more than {_MAX_REDIRECTS} times")
