"""Where image downloads may connect: globally routable addresses only, unless allowed.

The rule is applied to the address a socket is about to connect to (every address a name
resolves to, literal IPs, each redirect's target), never to a name, so DNS answers that change
between lookups cannot route around it.  An IPv4 address mapped into IPv6 (``::ffff:10.0.0.1``)
is judged as the IPv4 address it carries.  ``allow`` entries are CIDR networks or addresses
(``10.1.0.0/16``, ``127.0.0.1``) or host names (``mirror.internal``): a mirror or a local cache.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass
class Request:
    """The request being connected: its host name, and the addresses refused for it."""

    host: str | None
    blocked: list[str] = field(default_factory=list)


# Set around each request, read by the socket factory (asyncio tasks copy it into the connection
# attempts they start, and share the ``Request`` it holds).
REQUEST: contextvars.ContextVar[Request | None] = contextvars.ContextVar("request", default=None)


class BlockedAddress(ConnectionRefusedError):
    """A connection to an address the downloads may not reach; no socket was opened."""

    def __init__(self, address: str, host: str | None):
        self.address, self.host = address, host
        super().__init__(f"{address} is not a global address{f' ({host})' if host else ''}")


def unmapped(address: Address) -> Address:
    """The IPv4 address an IPv4-mapped IPv6 address carries; any other address as it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class Destinations:
    """Global addresses, the allowed networks, and the allowed host names."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, allow: Iterable[str]) -> Destinations:
        networks, hosts = [], set()
        for entry in (e.strip() for e in allow):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if "/" in entry or not entry.replace("-", "").replace(".", "").isalnum():
                    raise ValueError(
                        f"download allow entry {entry!r} is neither a CIDR network, an address "
                        "nor a host name"
                    ) from None
                hosts.add(entry.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def allows(self, address: str, host: str | None = None) -> bool:
        """May a socket connect to ``address`` for a request to ``host``?"""
        if host is not None and host.lower().rstrip(".") in self.hosts:
            return True
        ip = unmapped(ipaddress.ip_address(address.split("%", 1)[0]))
        return ip.is_global or any(ip in network for network in self.networks)

    def socket_factory(self, addr_info) -> socket.socket:
        """aiohttp's ``TCPConnector(socket_factory=…)``: a socket for an allowed address, else
        ``BlockedAddress`` before any socket exists."""
        family, kind, proto, _, sockaddr = addr_info
        request = REQUEST.get()
        host = request.host if request is not None else None
        if not self.allows(sockaddr[0], host):
            if request is not None:
                request.blocked.append(sockaddr[0])
            raise BlockedAddress(sockaddr[0], host)
        return socket.socket(family=family, type=kind, proto=proto)
