"""The predicates and the sequence matcher against the ``eql`` package's engine.

Generated streams of ECS documents go through two engines: ours
(:func:`runner.ecs.event_from_source`, ordered by
:meth:`runner.events.Event.order_key`, then
:func:`runner.matching.evaluate.evaluate`) and ``eql.PythonEngine``, fed the
same documents in the same order. The matched sequences, as tuples of
document ids, must be equal.

``eql`` is the reference implementation of the language, not of
Elasticsearch, so its known differences from Elasticsearch are normalised on
its side of the comparison, and nowhere else:

* It folds the case of join keys and of ``==``, where Elasticsearch compares
  keywords exactly. Each distinct join-key value (``HostA``, ``hosta``, ...)
  reaches ``eql`` as its own token, ``key0``, ``key1``..., shared by every
  key field so that a join across fields still pairs equal values; and a
  value that differs from a constant compared with ``==`` only by case
  (``host.os.type: Windows``) gets a prefix that keeps it unequal. The case
  sensitivity itself is tested by hand in ``test_sequence.py`` and the
  predicate tests; ``:`` is case-insensitive in both engines and its values
  reach ``eql`` unchanged.
* It joins events whose key field is missing (its key holds None), where
  Elasticsearch leaves them out of every join unless the key is optional
  (``?host.id``). A sequence keeps the key of its first event, so ``eql``
  results whose first event lacks a required key field of the first stage
  are dropped; such events never touch another key's state in ``eql``, so
  dropping the results is exact.
* It reads values as sent, where Elasticsearch matches what it indexed: it
  is given ``process.args_count`` as the ``long`` it becomes (``"1"`` is 1),
  and ``destination.ip`` as the ``ip`` field returns it (an IPv4-mapped IPv6
  address as IPv4, IPv6 compressed and lower-case) or not at all when the
  field would reject it (``ignore_malformed``; ``eql``'s ``cidrMatch`` would
  raise on it). Its ``not cidrMatch`` of a missing address is true, as
  Elasticsearch's ``must_not`` is, so missing addresses need no change.
* It cannot read ECS arrays, so it gets ``event.category`` as the event type
  and ``event.type`` as a scalar; our side gets both as arrays.
* It counts time in ticks of its own (FILETIME by default); the engine is
  configured with 1,000 ticks a second and fed epoch milliseconds.
* Its function names are case-sensitive (``cidrMatch``) and its
  ``cidrMatch`` needs a prefix length, so the query text it parses spells
  ``cidrMatch`` and ``"::1/128"`` for the rule's ``"::1"``.
* Its ``until`` drops the pending sequences of the event's key and then lets
  the same event match the stages; our matcher, following Elasticsearch,
  lets an ``until`` event take no part in the stages (see
  :mod:`runner.matching.sequence`). The ``until`` condition here never
  matches a stage's event, so the difference cannot show.

Everything else is one semantics: the most recent start wins, an event
advances a sequence by at most one stage while it may open another, maxspan
is inclusive and counts from the first event, a completed sequence is never
re-matched, ``with runs=N`` is the stage written N times.
"""

from __future__ import annotations

import functools
import ipaddress
import random
from collections.abc import Iterable
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias

import eql
import hypothesis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.ecs import event_from_source
from runner.eql.ast import Field, Sequence
from runner.eql.compile import match_plan
from runner.eql.parser import parse_query
from runner.events import Event
from runner.matching.evaluate import evaluate
from runner.rules.loader import load_rule

SequenceIds: TypeAlias = tuple[str, ...]

RULE_FILE = (
    Path(__file__).parents[2]
    / "rules"
    / "defense_evasion_unusual_network_connection_via_dllhost.toml"
)
DLLHOST_QUERY = load_rule(RULE_FILE).query

UNTIL_QUERY = """
sequence by host.id with maxspan=30s
  [process where event.type == "start" and process.name : "dllhost.exe"]
  [network where process.name : "dllhost.exe"]
  [network where not cidrmatch(destination.ip, "10.0.0.0/8", "fe80::/10")]
until [process where event.type == "end"]
"""

RUNS_QUERY = """
sequence by process.entity_id with maxspan=1m
  [process where host.os.type == "windows" and process.args_count == 1] with runs=2
  [network where not cidrmatch(destination.ip, "127.0.0.0/8", "::1")]
"""

STAGE_KEYS_QUERY = """
sequence with maxspan=5s
  [process where event.type == "start"] by host.id
  [network where process.name : "dllhost.exe"] by process.entity_id
"""

OPTIONAL_KEY_QUERY = """
sequence by ?host.id, process.entity_id with maxspan=1m
  [process where event.type == "start" and process.name : "dllhost.exe"]
  [network where true]
"""

QUERIES = {
    "dllhost": DLLHOST_QUERY,
    "until": UNTIL_QUERY,
    "runs": RUNS_QUERY,
    "stage_keys": STAGE_KEYS_QUERY,
    "optional_key": OPTIONAL_KEY_QUERY,
}

# What one document is drawn from: a pool of values per choice, repeats as
# weights, None for a missing field. Case variants of keys and names and
# missing values are the point; host ids double as entity ids so that the
# per-stage keys of STAGE_KEYS_QUERY can join across fields. "related" is how
# many documents back lies the one whose process this document shares.
SHORT_GAPS_MS = (0, 0, 1, 10, 100, 500, 1_000, 1_999, 2_000, 2_001)
LONG_GAPS_MS = (5_000, 29_999, 30_000, 30_001, 59_999, 60_000, 60_001)
DESTINATION_IPS: tuple[str | None, ...]
DESTINATION_IPS = ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2001:db8::1")
DESTINATION_IPS += ("52.95.110.1", "2a00:1450:4001::200e")
DESTINATION_IPS += ("10.1.2.3", "192.168.1.20", "172.16.0.5", "127.0.0.1", "::1")
DESTINATION_IPS += ("169.254.10.1", "100.64.0.1", "FE80::1", "fe80::dead:beef")
DESTINATION_IPS += ("ff02::1", "::ffff:10.1.2.3", "::ffff:8.8.4.4", "not-an-ip")
DESTINATION_IPS += ("300.1.2.3", None)
PROCESS_NAMES: tuple[str | None, ...]
PROCESS_NAMES = ("dllhost.exe", "dllhost.exe", "dllhost.exe", "DllHost.exe")
PROCESS_NAMES += ("DLLHOST.EXE", "rundll32.exe", "dllhost.exe.mui", None)
POOLS: dict[str, tuple[Any, ...]] = {
    "gap_ms": SHORT_GAPS_MS * 3 + LONG_GAPS_MS,
    "related": (1, 2, 3, None),
    "event.category": ("process", "network"),
    "event.type": ("start", "start", "start", "end"),
    "event.sequence": (None, None, 1, 2, 3),
    "host.id": ("HostA", "hosta", "HOSTA", "host-b", None),
    "host.os.type": ("windows", "windows", "windows", "Windows", "linux", None),
    "process.entity_id": ("{p-1}", "{P-1}", "HostA", "hosta", "host-b", None),
    "process.name": PROCESS_NAMES,
    "process.args_count": (1, 1, 1, 2, "1", None),
    "destination.ip": DESTINATION_IPS,
}
Spec: TypeAlias = dict[str, Any]
"""One value drawn from each pool of :data:`POOLS`."""

ECS_FIELDS = tuple(name for name in POOLS if "." in name)
ARRAY_FIELDS = ("event.category", "event.type")
KEY_FIELDS = ("host.id", "process.entity_id")
PROCESS_FIELDS = (*KEY_FIELDS, "host.os.type", "process.name")
CASE_SENSITIVE_CONSTANTS = {"host.os.type": "windows"}
START = datetime(2026, 12, 1, 10, tzinfo=UTC)
START_MS = int(START.timestamp() * 1_000)


@dataclass(frozen=True)
class Document:
    """One generated document, in the shape each engine reads.

    Attributes:
        event: What our engine matches, built from the ECS ``_source``.
        eql_event: The same document for ``eql``, normalised as the module
            docstring says.
    """

    event: Event
    eql_event: Any


class Stream:
    """Generated documents in matching order, shown one line each on failure.

    A plain class, so that Hypothesis prints a falsifying stream with this
    ``repr`` rather than every field of every document.
    """

    def __init__(self, documents: list[Document]) -> None:
        self.documents = documents

    def __repr__(self) -> str:
        lines = "".join(
            f"\n  {describe(document.event)}" for document in self.documents
        )
        return f"Stream({len(self.documents)} documents:{lines})"


def describe(event: Event) -> str:
    """Return one line of what the matcher sees of ``event``."""
    shown = [
        f"{name}={','.join(map(str, event.fields[name]))}"
        for name in ECS_FIELDS
        if name in event.fields
    ]
    return f"{event.id} +{event.timestamp - START_MS}ms {' '.join(shown)}"


# --- generating streams ---------------------------------------------------------


def source_of(spec: Spec, earlier: Seq[dict[str, Any]]) -> dict[str, Any]:
    """Return the ECS ``_source`` a spec describes, without ``@timestamp``.

    Three documents in four come from the same process as one of the three
    before them (same host, entity id, OS and name), as a process's network
    events do: with every field drawn independently, sequences would be too
    rare to compare.
    """
    category = spec["event.category"]
    values = {name: spec[name] for name in ECS_FIELDS}
    if category == "network":
        values["event.type"] = "start"
    else:
        del values["destination.ip"]
    if spec["related"] is not None and earlier:
        related = earlier[-min(spec["related"], len(earlier))]
        values.update((name, get(related, name)) for name in PROCESS_FIELDS)

    source: dict[str, Any] = {}
    for name, value in values.items():
        if value is not None:
            put(source, name, [value] if name in ARRAY_FIELDS else value)
    return source


def put(document: dict[str, Any], name: str, value: Any) -> None:
    """Set the dotted field ``name`` of a nested document."""
    *parents, leaf = name.split(".")
    for part in parents:
        document = document.setdefault(part, {})
    document[leaf] = value


def get(document: dict[str, Any], name: str) -> Any:
    """Return the dotted field ``name`` of a nested document, or None."""
    value: Any = document
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def build_stream(specs: Iterable[Spec]) -> Stream:
    """Build, timestamp, identify and order documents for both engines."""
    tokens: dict[str, str] = {}
    sources: list[dict[str, Any]] = []
    documents = []
    moment = START
    for number, spec in enumerate(specs):
        source = source_of(spec, sources)
        sources.append(source)
        moment += timedelta(milliseconds=spec["gap_ms"])
        source["@timestamp"] = moment.isoformat(timespec="milliseconds")
        index = f"logs-endpoint.events.{spec['event.category']}-default"
        event = event_from_source(source, index, f"d{number:04d}")
        documents.append(Document(event, eql_event(source, event, tokens)))
    documents.sort(key=lambda document: document.event.order_key())
    return Stream(documents)


SPECS = st.fixed_dictionaries(
    {name: st.sampled_from(pool) for name, pool in POOLS.items()}
)


@st.composite
def streams(draw: st.DrawFn) -> Stream:
    """Draw a stream of up to 120 documents (about 27), in bursts.

    Each document's choices are drawn on their own, as one list element, so
    that Hypothesis can delete and simplify documents independently; lists
    of bursts only raise the average length, a flat list's being 5.
    """
    bursts = draw(st.lists(st.lists(SPECS, min_size=1, max_size=10), max_size=12))
    return build_stream(spec for burst in bursts for spec in burst)


@functools.cache
def seeded_stream(seed: int, size: int) -> Stream:
    """Return a long stream from a seeded generator, for the non-vacuity check."""
    rng = random.Random(seed)
    pools = POOLS.items()
    return build_stream(
        [{name: rng.choice(pool) for name, pool in pools} for _ in range(size)]
    )


# --- normalising for eql ------------------------------------------------------------


def eql_event(source: dict[str, Any], event: Event, tokens: dict[str, str]) -> Any:
    """Return ``source`` as an ``eql.Event``, normalised as the module says."""
    data: dict[str, Any] = {"_id": event.id}
    for name in ("event.type", "host.os.type", "process.name"):
        value = get(source, name)
        if isinstance(value, list):
            value = value[0]
        constant = CASE_SENSITIVE_CONSTANTS.get(name)
        if constant is not None and value != constant:
            value = unfold(value, constant)
        if value is not None:
            put(data, name, value)
    for name in KEY_FIELDS:
        value = get(source, name)
        if value is not None:
            put(data, name, tokens.setdefault(value, f"key{len(tokens)}"))
    count = get(source, "process.args_count")
    if count is not None:
        put(data, "process.args_count", int(count))
    address = indexed_ip(get(source, "destination.ip"))
    if address is not None:
        put(data, "destination.ip", address)
    category = source["event"]["category"][0]
    return eql.Event(category, event.timestamp, data)


def unfold(value: Any, constant: str) -> Any:
    """Keep a case variant of ``constant`` unequal to it under ``eql``'s folding."""
    if isinstance(value, str) and value.casefold() == constant.casefold():
        return f"case-variant:{value}"
    return value


def indexed_ip(value: Any) -> str | None:
    """Return an address as an Elasticsearch ``ip`` field returns it, or None.

    Written with the standard library alone, independently of
    :mod:`runner.eql.cidr`, so the comparison also checks our normalisation.
    """
    if not isinstance(value, str):
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


def eql_text(query: str) -> str:
    """Spell ``query`` as ``eql`` parses it: ``cidrMatch`` with prefix lengths."""
    return query.replace("cidrmatch(", "cidrMatch(").replace('"::1"', '"::1/128"')


# --- running both engines -------------------------------------------------------------


@functools.cache
def parsed(query: str) -> Sequence:
    """Return our parse of a sequence query."""
    result = parse_query(query)
    assert isinstance(result, Sequence)
    return result


@functools.cache
def eql_parsed(query: str) -> Any:
    """Return ``eql``'s parse of a query, with Elasticsearch syntax and runs."""
    with eql.parser.elasticsearch_syntax, eql.parser.allow_runs:
        return eql.parse_query(eql_text(query))


def run_ours(query: str, stream: Stream) -> list[SequenceIds]:
    """Return the sequences our engine matches, as sorted tuples of ids."""
    events = [document.event for document in stream.documents]
    found = evaluate(match_plan(parsed(query)), events, limit=10**9)
    return sorted(tuple(event.id for event in match.events) for match in found.matches)


def run_eql(query: str, stream: Stream) -> list[SequenceIds]:
    """Return the sequences ``eql`` matches, with null join keys dropped."""
    results: list[Any] = []
    engine = eql.PythonEngine({"time_unit": 1_000})
    engine.add_output_hook(results.append)
    engine.add_query(eql_parsed(query))
    engine.stream_events([document.eql_event for document in stream.documents])

    sequence = parsed(query)
    first_keys = (*sequence.by, *sequence.stages[0].by)
    required = [
        key.name for key in first_keys if isinstance(key, Field) and not key.optional
    ]
    return sorted(
        tuple(event.data["_id"] for event in result.events)
        for result in results
        if all(get(result.events[0].data, key) is not None for key in required)
    )


# --- tests ------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(stream=streams())
def test_matcher_agrees_with_eql_on_generated_streams(stream: Stream) -> None:
    """Both engines find the same sequences of every query in any generated stream.

    One stream serves every query: drawing it costs more than matching it.
    """
    for name, query in QUERIES.items():
        ours = run_ours(query, stream)
        hypothesis.event(f"{name}: {'some' if ours else 'no'} sequences")

        assert ours == run_eql(query, stream), name


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_matcher_agrees_with_eql_on_long_stream_with_matches(name: str) -> None:
    """On a long seeded stream both engines agree, and find sequences at all.

    Guards the generated test against vacuity: normalisations that made
    every query match nothing would let it pass.
    """
    stream = seeded_stream(seed=20261201, size=2_000)
    query = QUERIES[name]

    ours = run_ours(query, stream)

    assert ours == run_eql(query, stream)
    assert len(ours) >= 10
