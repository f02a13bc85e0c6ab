"""CIDR membership and IP normalisation, as an Elasticsearch ``ip`` field sees them."""

from __future__ import annotations

import ipaddress

import pytest

from runner.eql.ast import Call, EventQuery, Field, Literal, Not, Position
from runner.eql.cidr import CidrSet, normalize_ip
from runner.eql.predicate import compile_condition
from runner.errors import RuleError
from runner.events import Event

DLLHOST_BLOCKS = (
    "10.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.0.0/29",
    "192.0.0.8/32",
    "192.0.0.9/32",
    "192.0.0.10/32",
    "192.0.0.170/32",
    "192.0.0.171/32",
    "192.0.2.0/24",
    "192.31.196.0/24",
    "192.52.193.0/24",
    "192.168.0.0/16",
    "192.88.99.0/24",
    "224.0.0.0/4",
    "100.64.0.0/10",
    "192.175.48.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "240.0.0.0/4",
    "::1",
    "FE80::/10",
    "FF00::/8",
)
DLLHOST = CidrSet(DLLHOST_BLOCKS)
_NETWORKS = [ipaddress.ip_network(block) for block in DLLHOST_BLOCKS]


def _covered(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Reference answer from the standard library's own network membership."""
    return any(
        address.version == network.version and address in network
        for network in _NETWORKS
    )


def _edges() -> list[tuple[str, str, bool]]:
    cases = []
    for block, network in zip(DLLHOST_BLOCKS, _NETWORKS, strict=True):
        first, last = network.network_address, network.broadcast_address
        cases.append((block, str(first), True))
        cases.append((block, str(last), True))
        top = 2**network.max_prefixlen - 1
        if int(first) > 0:
            below = first - 1
            cases.append((block, str(below), _covered(below)))
        if int(last) < top:
            above = last + 1
            cases.append((block, str(above), _covered(above)))
    return cases


@pytest.mark.parametrize(("block", "address", "inside"), _edges())
def test_cidr_dllhost_block_edges(block: str, address: str, inside: bool) -> None:
    """A block holds its first and last address; a neighbour only if another does."""
    assert DLLHOST.contains(address) is inside, block


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("9.255.255.255", False),
        ("11.0.0.0", False),
        ("126.255.255.255", False),
        ("128.0.0.0", False),
        ("169.253.255.255", False),
        ("169.255.0.0", False),
        ("172.15.255.255", False),
        ("172.32.0.0", False),
        ("191.255.255.255", False),
        ("192.0.0.255", True),
        ("192.0.1.0", False),
        ("192.0.3.0", False),
        ("192.31.195.255", False),
        ("192.31.197.0", False),
        ("192.52.192.255", False),
        ("192.52.194.0", False),
        ("192.88.98.255", False),
        ("192.88.100.0", False),
        ("192.167.255.255", False),
        ("192.169.0.0", False),
        ("192.175.47.255", False),
        ("192.175.49.0", False),
        ("100.63.255.255", False),
        ("100.128.0.0", False),
        ("198.17.255.255", False),
        ("198.20.0.0", False),
        ("198.51.99.255", False),
        ("198.51.101.0", False),
        ("203.0.112.255", False),
        ("203.0.114.0", False),
        ("223.255.255.255", False),
        ("224.0.0.0", True),
        ("255.255.255.255", True),
        ("8.8.8.8", False),
    ],
)
def test_cidr_dllhost_ipv4_neighbours(address: str, inside: bool) -> None:
    """Addresses just outside the DllHost IPv4 blocks are not excluded."""
    assert DLLHOST.contains(address) is inside


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("::1", True),
        ("::2", False),
        ("::", False),
        ("0:0:0:0:0:0:0:1", True),
        ("fe80::", True),
        ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", True),
        ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", False),
        ("fec0::", False),
        ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", False),
        ("ff00::", True),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", True),
        ("FE80::1", True),
        ("FF02::1", True),
        ("2001:db8::1", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_cidr_dllhost_ipv6(address: str, inside: bool) -> None:
    """IPv6 blocks hold their edges; literals compare case-insensitively."""
    assert DLLHOST.contains(address) is inside


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("::ffff:10.1.2.3", True),
        ("::FFFF:10.1.2.3", True),
        ("::ffff:a01:203", True),
        ("::ffff:8.8.8.8", False),
        ("::ffff:127.0.0.1", True),
    ],
)
def test_cidr_ipv4_mapped_is_the_ipv4_address(address: str, inside: bool) -> None:
    """An IPv4-mapped IPv6 address is matched as its IPv4 address."""
    assert DLLHOST.contains(address) is inside


@pytest.mark.parametrize(
    "value",
    [
        "not-an-ip",
        "",
        None,
        "300.1.1.1",
        "1.2.3",
        "010.0.0.1",
        "10.0.0.1/8",
        " 10.0.0.1",
        "fe80::1%eth0",
        "::1::",
        10,
        ["10.0.0.1"],
    ],
)
def test_cidr_malformed_never_matches_nor_raises(value: object) -> None:
    """A value an ip field could not index is in no block, without raising."""
    assert DLLHOST.contains(value) is False


def test_cidr_ipv4_mapped_block_covers_ipv4() -> None:
    """A block written in IPv4-mapped form covers the plain IPv4 addresses."""
    blocks = CidrSet(["::ffff:10.0.0.0/104"])
    assert blocks.contains("10.255.0.1")
    assert not blocks.contains("11.0.0.1")


def test_cidr_ipv6_zero_prefix_covers_ipv4() -> None:
    """``::/0`` covers IPv4 too, since an ip field stores IPv4 as mapped IPv6."""
    assert CidrSet(["::/0"]).contains("8.8.8.8")


def test_cidr_host_bits_are_masked() -> None:
    """An entry with host bits set covers its whole prefix."""
    blocks = CidrSet(["10.1.2.3/8"])
    assert blocks.contains("10.200.0.1")
    assert not blocks.contains("11.0.0.0")


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "abc", "10.0.0.0/x", "::/129", ""])
def test_cidr_invalid_entry_raises_naming_it(entry: str) -> None:
    """An invalid CIDR entry is refused with a message that names it."""
    with pytest.raises(ValueError, match="invalid CIDR block"):
        CidrSet([entry])


def test_cidr_invalid_entry_in_rule_is_located() -> None:
    """cidrMatch with an invalid block fails to compile at the call's position."""
    call = Call(
        "cidrmatch",
        (Field("destination.ip"), Literal("10.0.0.0/99")),
        pos=Position(2, 7),
    )
    with pytest.raises(RuleError, match=r"10\.0\.0\.0/99") as caught:
        compile_condition(EventQuery("network", call))
    assert (caught.value.line, caught.value.column) == (2, 7)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("::FFFF:10.1.2.3", "10.1.2.3"),
        ("FE80::0:1", "fe80::1"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::1", "::1"),
        ("::a01:203", "::a01:203"),
        ("not-an-ip", None),
        ("", None),
        (None, None),
        ("300.1.1.1", None),
        ("1.2.3", None),
        (167772161, None),
    ],
)
def test_cidr_normalize_ip(value: object, expected: str | None) -> None:
    """normalize_ip returns the ip field's canonical text, None when unparseable."""
    assert normalize_ip(value) == expected


def _network_event(fields: dict[str, list[object]]) -> Event:
    return Event("logs-endpoint.events.network-default", "n1", 0, None, fields)


def test_cidr_missing_field_passes_the_exclusion() -> None:
    """Without destination.ip, cidrMatch is false and ``not cidrMatch`` true."""
    call = Call("cidrMatch", (Field("destination.ip"), *map(Literal, DLLHOST_BLOCKS)))
    matches = compile_condition(EventQuery("network", call))
    excludes = compile_condition(EventQuery("network", Not(call)))
    variants: list[dict[str, list[object]]] = [{}, {"destination.ip": ["not-an-ip"]}]
    for fields in variants:
        event = _network_event({"event.category": ["network"], **fields})
        assert matches(event) is False
        assert excludes(event) is True


def test_cidr_multi_valued_field_matches_any() -> None:
    """cidrMatch over several addresses is true when any of them is inside."""
    call = Call("cidrMatch", (Field("related.ip"), Literal("10.0.0.0/8")))
    predicate = compile_condition(EventQuery(None, call))
    assert predicate(_network_event({"related.ip": ["8.8.8.8", "10.0.0.5"]}))
    assert not predicate(_network_event({"related.ip": ["8.8.8.8", "1.1.1.1"]}))
