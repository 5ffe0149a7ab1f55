"""Where Baton may send: outgoing URLs never reach private, loopback or link-local networks.

Webhook contact methods and escalation webhook targets are URLs anyone with a member account
types in; without this guard they would let a member make Baton probe the network it runs in
(the cloud metadata address, the database, an admin port on loopback). Addresses are checked
when a URL is saved and again at send time after DNS resolution, and the connection goes to the
address that was checked, so a name that later resolves elsewhere (DNS rebinding) cannot get
around it. ``BATON_WEBHOOK_ALLOWED_NETWORKS`` is the one way to allow a private target.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
# A lookup at save time is a courtesy (send time is what counts); it must not hold a request.
SAVE_TIME_LOOKUP_SECONDS = 2.0


class BlockedDestination(Exception):
    """The destination is in a network Baton does not send to."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_networks(value: str | list[str] | tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """``"10.0.0.0/8, 127.0.0.0/8"`` (or a list) as networks; raises ValueError naming a bad one."""
    items = value.split(",") if isinstance(value, str) else list(value)
    networks: list[IPNetwork] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not a CIDR network such as 10.0.0.0/8") from None
    return tuple(networks)


def blocked_reason(address: IPAddress) -> str | None:
    """Why Baton refuses to send to ``address``, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified or address in _THIS_NETWORK:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (this includes the cloud metadata service)"
    if address.is_multicast:
        return "a multicast address"
    if address in _CGNAT:
        return "a carrier-grade NAT address (100.64.0.0/10)"
    if address.is_private:
        return "a private address (RFC 1918 or unique-local)"
    if not address.is_global:
        return "a reserved address"
    return None


@dataclass(frozen=True)
class NetworkPolicy:
    allowed_networks: tuple[IPNetwork, ...] = ()

    def check_address(self, address: IPAddress | str) -> None:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        if any(c in network for c in candidates for network in self.allowed_networks):
            return
        reason = blocked_reason(ip)
        if reason is not None:
            shown = candidates[-1]  # an IPv4-mapped address reads better as IPv4
            raise BlockedDestination(
                f"{shown} is {reason}; Baton does not send there unless "
                "BATON_WEBHOOK_ALLOWED_NETWORKS allows it"
            )

    def check_host_literal(self, host: str) -> IPAddress | None:
        """Check a host that is an IP literal or a well-known local name; return the literal."""
        bare = host.strip("[]").rstrip(".").lower()
        if bare in _LOCAL_NAMES or bare.endswith(".localhost"):
            self.check_address(ipaddress.ip_address("127.0.0.1"))
            return None
        try:
            literal = ipaddress.ip_address(bare.split("%", 1)[0])
        except ValueError:
            return None
        self.check_address(literal)
        return literal

    async def check_url(self, url: str) -> None:
        """The save-time check: literals and local names always; names that resolve now, too.

        A name that does not resolve yet is accepted: the check at send time decides.
        """
        host = urlsplit(url).hostname or ""
        if not host:
            raise BlockedDestination("the URL has no host")
        if self.check_host_literal(host) is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, None, type=socket.SOCK_STREAM),
                timeout=SAVE_TIME_LOOKUP_SECONDS,
            )
        except (OSError, TimeoutError, UnicodeError):
            return
        for info in infos:
            self.check_address(str(info[4][0]))
