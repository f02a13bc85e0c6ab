"""Benchmark the matcher: our compiled predicates and sequence matcher against eql.

The DllHost rule runs over a deterministic stream shaped like its prefiltered
hits: dllhost.exe process starts (four in five) and network connections of
150,000 processes (join keys) on 1,500 Windows hosts, interleaved, about
90,000 events a minute, so that about 45,000 sequences wait at any time; one
connection in ten goes to a public address, and some of those complete a
sequence.

Events are built once, before any timing. Two figures, printed as they
finish, are ratios measured in this run, never absolute times:

1. Same prefix: our events/s (``evaluate()``, best of 3) against
   ``eql.PythonEngine``'s (one run; it is slow) on the same first events, in
   the same order, and their ratio (goal: at least 100). Both must find the
   same number of sequences. ``eql`` checks maxspan by scanning every
   waiting sequence at every event, so its cost per event grows with the
   waiting state, and the ratio with the prefix (``--quick`` shows less).
2. Scale: our events/s on 10^5 and 10^6 events, and their ratio (goal: about
   1; the cost per event must not grow with the stream), with the marginal
   rate of the events the larger stream adds.

Usage: ``.venv/bin/python bench/engine.py [--quick]``. The ``eql`` package
(AGPL-3.0) is a dev dependency, imported here as the reference only.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import eql

from runner.eql.compile import compile_rule
from runner.events import Event
from runner.matching.evaluate import evaluate
from runner.matching.plan import MatchPlan
from runner.matching.sequence import SequenceMatcher
from runner.rules.loader import load_rule

ROOT = Path(__file__).resolve().parents[1]
RULE_FILE = (
    ROOT / "rules" / "defense_evasion_unusual_network_connection_via_dllhost.toml"
)

SEED = 2026
START_MS = 1_796_119_200_000
HOSTS = 1_500
PROCESSES_PER_HOST = 100
# Steps of 0, 1 and 1 ms: about 90,000 events a minute, so that 10^5 events
# already span more than the rule's maxspan (the matcher's state has reached
# its steady size) and about 45,000 of the 150,000 keys have a start waiting.
STEPS_MS = (0, 1, 1)
PUBLIC_IPS = ("8.8.8.8", "52.95.110.1", "2606:4700:4700::1111")
PRIVATE_IPS: tuple[str, ...] = (
    "10.0.3.17",
    "192.168.1.20",
    "172.16.8.2",
    "127.0.0.1",
    "::1",
)
PRIVATE_IPS += ("fe80::1c2b:3a4d", "169.254.0.5", "100.64.3.3", "ff02::fb")

FULL = {"prefix": 20_000, "small": 100_000, "large": 1_000_000}
QUICK = {"prefix": 2_000, "small": 10_000, "large": 100_000}
REPEAT = 3


@dataclass(frozen=True, slots=True)
class Raw:
    """One generated hit before it becomes an :class:`Event`."""

    number: int
    timestamp: int
    category: str
    host: str
    entity: str
    name: str
    args_count: int | None
    ip: str | None


def generate(total: int) -> Iterator[Raw]:
    """Yield ``total`` hits in time order, the same every run."""
    rng = random.Random(SEED)
    hosts = [f"host-{number:04d}" for number in range(HOSTS)]
    timestamp = START_MS
    for number in range(total):
        timestamp += rng.choice(STEPS_MS)
        host = rng.choice(hosts)
        entity = f"{{{host}-{rng.randrange(PROCESSES_PER_HOST):03d}}}"
        draw = rng.random()
        if draw < 0.55:
            args = 1 if draw < 0.50 else 2
            yield Raw(
                number, timestamp, "process", host, entity, "dllhost.exe", args, None
            )
        elif draw < 0.60:
            yield Raw(
                number, timestamp, "process", host, entity, "DllHost.exe", 1, None
            )
        else:
            pool = PUBLIC_IPS if rng.random() < 0.1 else PRIVATE_IPS
            ip = rng.choice(pool)
            yield Raw(
                number, timestamp, "network", host, entity, "dllhost.exe", None, ip
            )


def to_event(raw: Raw, shared: dict[Any, list[Any]]) -> Event:
    """Return the event the fetch would build for ``raw``.

    One-element value lists are shared between events (``shared`` caches
    them): the events never change, and a million private copies would only
    measure the allocator.
    """

    def one(value: Any) -> list[Any]:
        return shared.setdefault(value, [value])

    fields = {
        "event.category": one(raw.category),
        "event.type": one("start"),
        "host.id": one(raw.host),
        "host.os.type": one("windows"),
        "process.entity_id": one(raw.entity),
        "process.name": one(raw.name),
    }
    if raw.args_count is not None:
        fields["process.args_count"] = one(raw.args_count)
    if raw.ip is not None:
        fields["destination.ip"] = one(raw.ip)
    index = f"logs-endpoint.events.{raw.category}-default"
    return Event(index, f"{raw.number:08d}", raw.timestamp, raw.number, fields)


def to_eql_event(raw: Raw) -> Any:
    """Return ``raw`` as an ``eql.Event``: nested fields, scalar values, ms time."""
    process: dict[str, Any] = {"entity_id": raw.entity, "name": raw.name}
    if raw.args_count is not None:
        process["args_count"] = raw.args_count
    data: dict[str, Any] = {
        "_id": f"{raw.number:08d}",
        "event": {"type": "start"},
        "host": {"id": raw.host, "os": {"type": "windows"}},
        "process": process,
    }
    if raw.ip is not None:
        data["destination"] = {"ip": raw.ip}
    return eql.Event(raw.category, raw.timestamp, data)


def eql_engine(query: str, results: list[Any]) -> Any:
    """Return an ``eql.PythonEngine`` for ``query`` that appends to ``results``.

    ``eql`` counts time in ticks of its own, here set to milliseconds; its
    function names are case-sensitive, and its ``cidrMatch`` needs a prefix
    length on every entry.
    """
    text = query.replace("cidrmatch(", "cidrMatch(").replace('"::1"', '"::1/128"')
    with eql.parser.elasticsearch_syntax:
        parsed = eql.parse_query(text)
    engine = eql.PythonEngine({"time_unit": 1_000})
    engine.add_output_hook(results.append)
    engine.add_query(parsed)
    return engine


def best_time(plan: MatchPlan, events: list[Event], limit: int) -> float:
    """Return the best of :data:`REPEAT` times of ``evaluate()`` over ``events``."""
    best = float("inf")
    for _ in range(REPEAT):
        gc.collect()
        started = time.perf_counter()
        evaluate(plan, events, limit)
        best = min(best, time.perf_counter() - started)
    return best


def compare_with_eql(
    query: str, plan: MatchPlan, limit: int, raws: list[Raw], events: list[Event]
) -> bool:
    """Print both engines' events/s on the same prefix; return True if they agree."""
    size = len(events)
    eql_events = [to_eql_event(raw) for raw in raws]
    results: list[Any] = []
    engine = eql_engine(query, results)
    started = time.perf_counter()
    engine.stream_events(eql_events)
    eql_rate = size / (time.perf_counter() - started)

    ours = evaluate(plan, events, limit).sequences
    rate = size / best_time(plan, events, limit)
    agree = ours == len(results)
    verdict = "agree" if agree else "DIFFER"
    print(f"same prefix: {size:,} events")
    print(f"  sequences: ours {ours:,}, eql {len(results):,} ({verdict})")
    print(f"  ours {rate:12,.0f} events/s (best of {REPEAT})")
    print(f"  eql  {eql_rate:12,.0f} events/s (one run)")
    print(f"  ratio ours/eql = {rate / eql_rate:,.0f}x (goal >= 100)")
    return agree


def compare_scales(
    plan: MatchPlan, limit: int, small: list[Event], large: list[Event]
) -> None:
    """Print our events/s on a small and a large stream, and their ratio.

    For the first maxspan of a stream no sequence expires and the waiting
    state is still growing, so a short stream runs faster per event. The
    marginal rate, of the events the large stream adds, shows the steady
    state on its own.
    """
    matcher = SequenceMatcher(plan)
    for event in small:
        matcher.feed(event)
    waiting = matcher.pending_count
    print(f"scale: {waiting:,} sequences waiting after {len(small):,} events")
    small_time = best_time(plan, small, limit)
    large_time = best_time(plan, large, limit)
    small_rate, large_rate = len(small) / small_time, len(large) / large_time
    marginal = (len(large) - len(small)) / (large_time - small_time)
    print(f"  ours at {len(small):>9,} events: {small_rate:12,.0f} events/s")
    print(f"  ours at {len(large):>9,} events: {large_rate:12,.0f} events/s")
    print(f"  marginal, events {len(small):,} to {len(large):,}: {marginal:,.0f}/s")
    ratio = large_rate / small_rate
    print(f"  ratio large/small = {ratio:.2f} (goal: about 1, linear cost)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Return the command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="10x smaller streams, for a smoke run"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the stream, run both comparisons; exit 1 if the engines disagree."""
    sizes = QUICK if parse_args(argv).quick else FULL
    rule = load_rule(RULE_FILE)
    plan = compile_rule(rule).plan

    started = time.perf_counter()
    raws = list(generate(sizes["large"]))
    shared: dict[Any, list[Any]] = {}
    events = [to_event(raw, shared) for raw in raws]
    span_s = (raws[-1].timestamp - raws[0].timestamp) / 1_000
    print(
        f"stream: {len(events):,} events over {span_s:,.0f} s, "
        f"{HOSTS * PROCESSES_PER_HOST:,} join keys; "
        f"built in {time.perf_counter() - started:.1f} s"
    )
    # The bench holds every event at once, the daemon one page: freezing them
    # keeps the collector from rescanning a million live objects mid-timing.
    gc.collect()
    gc.freeze()

    prefix = sizes["prefix"]
    agree = compare_with_eql(
        rule.query, plan, rule.max_signals, raws[:prefix], events[:prefix]
    )
    small = list(islice(events, sizes["small"]))
    compare_scales(plan, rule.max_signals, small, events)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
