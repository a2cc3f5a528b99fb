"""SSRF guard of webhook URLs: where a webhook may be sent, checked at creation and send.

Owns `check_url` (the URL's host resolved now; every address must be public, else
`UnsafeWebhook` says which address and why), `Pinned` (the URL rewritten to the checked
address, with the `Host` header and TLS server name of the original host, so the
request goes to the address that was checked: a DNS answer that changes between the
check and the connection, i.e. DNS rebinding, cannot redirect it) and `allow_private`,
the server option read by the API (`app.state.webhook_allow_private`).

Refused by default: loopback, private (RFC 1918, IPv6 unique local), link-local,
carrier-grade NAT, unspecified, multicast, reserved and documentation ranges; an IPv6
address carrying an IPv4 one (mapped, 6to4, NAT64) is judged as that IPv4 address. The
server option `webhook_allow_private`
(`REQFLO_WEBHOOK_ALLOW_PRIVATE=1`) allows them, except the cloud metadata endpoints
(169.254.169.254, fd00:ec2::254, 100.100.100.200), which are always refused.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
HINT = (
    "webhooks to private, loopback and link-local addresses are refused to prevent SSRF; "
    "an admin can allow them with the server option webhook_allow_private "
    "(REQFLO_WEBHOOK_ALLOW_PRIVATE=1)"
)


class UnsafeWebhook(ValueError):
    """A webhook URL the guard refuses (the message says which address and why)."""


class Unresolvable(UnsafeWebhook):
    """The webhook's host does not resolve (now: it may later)."""


@dataclass(frozen=True)
class Pinned:
    """A request target pinned to one checked address."""

    url: httpx.URL  # the original URL with the checked address as host
    host: str  # the original host: Host header and TLS server name
    address: str

    def request_options(self) -> dict[str, Any]:
        return {"headers": {"Host": self.host_header}, "extensions": {"sni_hostname": self.host}}

    @property
    def host_header(self) -> str:
        port = self.url.port
        return self.host if port is None else f"{self.host}:{port}"


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(address: IP, allow_private: bool) -> str | None:
    """Why `address` is refused (None: allowed)."""
    if address in METADATA:
        return "a cloud metadata endpoint"
    if (inner := _embedded_ipv4(address)) is not None:
        return refusal(inner, allow_private)
    if allow_private:
        return None
    for reason, hit in (
        ("loopback", address.is_loopback), ("link-local", address.is_link_local),
        ("private", address.is_private), ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast), ("reserved", address.is_reserved),
    ):  # fmt: skip
        if hit:
            return f"a {reason} address"
    return None if address.is_global else "not a public address"


def _embedded_ipv4(address: IP) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and is routed to: mapped (::ffff:a.b.c.d),
    6to4 (2002::/16) or NAT64 (64:ff9b::/96); judged as that address."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.ipv4_mapped or address.sixtofour


def check_url(
    url: str, allow_private: bool, resolver: Resolver = system_resolver, *, must_resolve: bool
) -> Pinned | None:
    """The URL pinned to its first address once every address passed the guard. A host
    that does not resolve raises Unresolvable when `must_resolve`, else gives None."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:  # its message may quote URL parts (a password)
        raise UnsafeWebhook(
            "webhook_url is not a valid URL (check its host, port and characters)"
        ) from exc
    host = parsed.host
    if parsed.scheme not in ("http", "https") or not host:
        raise UnsafeWebhook(f"webhook_url '{shown_url(url)}' is not an http(s) URL with a host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolver(host, port)]
    except (OSError, UnicodeError, ValueError) as exc:
        if must_resolve:
            raise Unresolvable(f"webhook host '{host}' does not resolve ({exc})") from exc
        return None
    if not addresses:
        raise Unresolvable(f"webhook host '{host}' has no address")
    for address in addresses:
        reason = refusal(address, allow_private)
        if reason is not None:
            verb = "is" if host == str(address) else f"resolves to {address}, which is"
            raise UnsafeWebhook(f"webhook host '{host}' {verb} {reason}; {HINT}")
    return Pinned(parsed.copy_with(host=str(addresses[0])), host, str(addresses[0]))


def allow_private(state: Any) -> bool:
    """The server option as the API sees it (an app's `state`; off unless set)."""
    return bool(getattr(state, "webhook_allow_private", False))


def shown_url(url: str | None) -> str | None:
    """The webhook URL for pages and logs: no user info, query or fragment (they may carry
    credentials; a path token such as a chat webhook's is kept — it names the target)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))


__all__ = [
    "Pinned",
    "Resolver",
    "Unresolvable",
    "UnsafeWebhook",
    "allow_private",
    "check_url",
    "refusal",
    "shown_url",
]
