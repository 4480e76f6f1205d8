"""Where webhooks may be sent: not into the registry's own network (server-side request forgery).

A subscriber names the URL the dispatcher POSTs to from inside the registry's network. Loopback, private,
link-local (the cloud metadata service at 169.254.169.254), multicast, reserved and unspecified addresses, and
IPv6 forms of them (IPv4-mapped, 6to4, NAT64 are unwrapped first), are refused unless
``SOCIALCREDIT_WEBHOOK_ALLOW_PRIVATE`` is set (a test's receiver on 127.0.0.1, a registry inside one private
network). Checked when the subscription is made (a literal address, or what the name resolves to) and again
at each delivery, after resolving the name: the request then goes to the address checked, so a name that
resolves elsewhere the second time (DNS rebinding) is not followed.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from ..settings import get_settings
from .errors import FeedInvalid

__all__ = ["TargetRefused", "check_subscription_url", "refusal", "resolve_target"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """The URL's host is, or resolves to, an address webhooks are not sent to."""


def _unwrapped(ip: Address) -> Address:
    """The IPv4 address an IPv6 one carries (IPv4-mapped ``::ffff:a.b.c.d``, 6to4, NAT64 ``64:ff9b::/96``)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in ipaddress.IPv6Network("64:ff9b::/96"):
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def refusal(ip: Address) -> str | None:
    """Why webhooks are not sent to ``ip`` (None: they may be)."""
    inner = _unwrapped(ip)
    for kind, hit in (
        ("loopback", inner.is_loopback),
        ("link-local", inner.is_link_local),
        ("unspecified", inner.is_unspecified),
        ("multicast", inner.is_multicast),
        ("reserved", inner.is_reserved),
        ("private", inner.is_private),  # after the others, which Python's is_private also covers
        ("not globally routable", not inner.is_global),
    ):
        if hit:
            shown = f"{ip} ({inner})" if inner != ip else str(ip)
            return f"{shown} is a {kind} address; webhooks go to public addresses only"
    return None


def _allowed() -> bool:
    return get_settings().webhook_allow_private


def _addresses(parts: SplitResult) -> list[Address]:
    """The host's addresses: itself if literal, else what it resolves to (socket.gaierror if nothing)."""
    host = parts.hostname or ""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    port = parts.port or (443 if parts.scheme == "https" else 80)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def check_subscription_url(url: str) -> None:
    """Raise :class:`FeedInvalid` (field ``url``) if ``url``'s host is or resolves to a refused address. A name
    that does not resolve yet is accepted: each delivery checks again."""
    if _allowed():
        return
    try:
        ips = _addresses(urlsplit(url))
    except (OSError, UnicodeError, ValueError):
        return
    for ip in ips:
        reason = refusal(ip)
        if reason is not None:
            raise FeedInvalid("url", url, reason)


def resolve_target(url: str) -> tuple[str, str | None]:
    """The URL to connect to and the host name it stands for (None: unchanged); raise :class:`TargetRefused`.

    Every address the name resolves to must be allowed (one refused address refuses all: a resolver may
    answer in any order); the request goes to the first, with the name kept for ``Host`` and TLS."""
    if _allowed():
        return url, None
    parts = urlsplit(url)
    try:
        ips = _addresses(parts)
    except (OSError, UnicodeError, ValueError) as exc:
        raise TargetRefused(f"{parts.hostname}: cannot resolve: {exc}") from None
    for ip in ips:
        reason = refusal(ip)
        if reason is not None:
            raise TargetRefused(f"{parts.hostname}: {reason}")
    ip = ips[0]
    if str(ip) == parts.hostname:
        return url, None
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl(), parts.hostname
