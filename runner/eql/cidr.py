"""IP normalisation and CIDR membership, as an Elasticsearch ``ip`` field sees them.

An ``ip`` field stores every address in one 128-bit space: an IPv4 address is
kept as its IPv4-mapped IPv6 form (``::ffff:a.b.c.d``), so ``10.1.2.3`` and
``::ffff:10.1.2.3`` are the same value, and ``10.0.0.0/8`` is the IPv6 prefix
``::ffff:10.0.0.0/104``. The search API's ``fields`` option formats a mapped
address back as dotted IPv4 and any other IPv6 address in the compressed,
lower-case form (RFC 5952). See
https://www.elastic.co/guide/en/elasticsearch/reference/current/ip.html.

:class:`CidrSet` works in that same space: each CIDR entry becomes an integer
range once, and a lookup is a parse (cached) and a bisection.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Iterable
from functools import lru_cache

_V4_MAPPED = 0xFFFF << 32
_V4_MASK = 0xFFFFFFFF
_BITS = 128
_V4_PREFIX_OFFSET = 96


@lru_cache(maxsize=65536)
def _address_int(value: str) -> int | None:
    """Return ``value`` as an integer in the ``ip`` field's 128-bit space.

    Returns None when ``value`` is not an address an ``ip`` field accepts. A
    zone index (``fe80::1%eth0``) is refused, as Elasticsearch refuses it.
    """
    if "%" in value:
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if address.version == 4:
        return _V4_MAPPED | int(address)
    return int(address)


@lru_cache(maxsize=65536)
def _format(number: int) -> str:
    if number >> 32 == 0xFFFF:
        return str(ipaddress.IPv4Address(number & _V4_MASK))
    return ipaddress.IPv6Address(number).compressed


def normalize_ip(value: object) -> str | None:
    """Return ``value`` as an ``ip`` field returns it, or None if it is no address.

    IPv4-mapped IPv6 addresses become dotted IPv4; other IPv6 addresses are
    compressed and lower-case; anything that does not parse (a non-string,
    ``"300.1.1.1"``, ``"1.2.3"``, ``""``) gives None.
    """
    if type(value) is not str:
        return None
    number = _address_int(value)
    return None if number is None else _format(number)


def _entry_range(entry: str) -> tuple[int, int]:
    """Return the inclusive integer range a CIDR entry covers.

    Raises:
        ValueError: The entry is not an address or ``address/prefix``.
    """
    address_text, slash, prefix_text = entry.partition("/")
    start = _address_int(address_text)
    if start is None:
        raise ValueError(f"invalid CIDR block {entry!r}: not an IP address")
    is_v4 = ipaddress.ip_address(address_text).version == 4
    width = 32 if is_v4 else _BITS
    if not slash:
        return start, start
    if not prefix_text.isdecimal() or not prefix_text.isascii():
        raise ValueError(f"invalid CIDR block {entry!r}: bad prefix length")
    prefix = int(prefix_text)
    if prefix > width:
        raise ValueError(f"invalid CIDR block {entry!r}: prefix longer than {width}")
    if is_v4:
        prefix += _V4_PREFIX_OFFSET
    host_bits = _BITS - prefix
    # Host bits set in the entry are ignored, as the ip field's prefix query
    # masks them (``10.1.2.3/8`` is ``10.0.0.0/8``).
    low = start >> host_bits << host_bits
    return low, low | ((1 << host_bits) - 1)


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            previous_low, previous_high = merged[-1]
            merged[-1] = (previous_low, max(previous_high, high))
        else:
            merged.append((low, high))
    return merged


class CidrSet:
    """A set of CIDR blocks, parsed once, tested many times.

    Entries are IPv4 or IPv6 blocks (``10.0.0.0/8``, ``FE80::/10``) or single
    addresses (``::1``). IPv4 and IPv4-mapped IPv6 forms are interchangeable,
    in the entries and in the values tested.

    Attributes:
        entries: The entries as given.
    """

    __slots__ = ("_ends", "_starts", "entries")

    def __init__(self, entries: Iterable[str]) -> None:
        """Parse the entries.

        Raises:
            ValueError: An entry is not a valid address or CIDR block; the
                message names it.
        """
        self.entries = tuple(entries)
        ranges = _merge(_entry_range(entry) for entry in self.entries)
        self._starts = [low for low, _ in ranges]
        self._ends = [high for _, high in ranges]

    def contains(self, value: object) -> bool:
        """Return True when ``value`` is an address inside one of the blocks.

        A missing (None), non-string or unparseable value is never inside:
        this never raises.
        """
        if type(value) is not str:
            return False
        number = _address_int(value)
        if number is None:
            return False
        index = bisect_right(self._starts, number) - 1
        return index >= 0 and number <= self._ends[index]

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"CidrSet({list(self.entries)!r})"
