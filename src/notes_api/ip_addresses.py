"""Client addresses: one canonical spelling per address, and the bucket throttles count it in.

A client address reaches the application from the socket or, behind a trusted
proxy, from `X-Forwarded-For`, where a client may have written anything. Two
spellings of one address must never count apart, and text that is no address
must never share a bucket with others or reach a column sized for addresses.
"""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

MAX_ADDRESS_LENGTH = 64
"""The longest text parsed as an address: the longest IPv6 spelling (45 characters,
IPv4-embedded) plus `%` and an interface name (at most 15 on Linux) fits; more is no
address a network stack gave anyone."""

UNKNOWN_BUCKET = "unknown"
"""Clients without an IP address (a Unix socket, a test client) share this bucket:
nothing tells them apart."""


@lru_cache(maxsize=4096)
def canonical_ip(host: str | None) -> str | None:
    """The address in its one canonical spelling, or None when `host` is not an IP address.

    IPv4-mapped IPv6 (`::ffff:192.0.2.1`) is the IPv4 address it maps; an IPv6 zone
    (`fe80::1%eth0`) names the receiver's interface, not the client, and is dropped.
    Dotted quads with leading zeros (`010.001.002.001`) are not addresses: C's
    `inet_aton` reads them as octal (8.1.2.1), other parsers as decimal, so any
    reading would be a guess.

    Memoized: every request asks this of its client's address, parsing costs about 5 µs,
    and a client sends many requests in a row. The answer depends on the text alone, and
    the cache holds at most 4,096 (a megabyte or two at worst), so a client that sends a
    new `X-Forwarded-For` every time only evicts entries.
    """
    if not host or len(host) > MAX_ADDRESS_LENGTH:
        return None
    try:
        address = ip_address(host)
    except ValueError:
        return None
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        if address.scope_id is not None:
            return str(IPv6Address(int(address)))
    return str(address)


def is_ip_address(host: str | None) -> bool:
    return canonical_ip(host) is not None


def address_bucket(client_ip: str | None) -> str:
    """What per-address throttles count under: the IPv4 address, the IPv6 /64 (the block
    one subscriber usually holds), or `UNKNOWN_BUCKET`. At most 24 characters."""
    canonical = canonical_ip(client_ip)
    if canonical is None:
        return UNKNOWN_BUCKET
    address = ip_address(canonical)
    if isinstance(address, IPv4Address):
        return canonical
    return str(ip_network(f"{canonical}/64", strict=False))
