"""The streaming sequence matcher against Elasticsearch's EQL semantics."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from runner.events import Event
from runner.matching.plan import JoinKey, KeyFunction, MatchPlan, Predicate, StagePlan
from runner.matching.sequence import Match, SequenceMatcher

MINUTE = 60_000


def ev(
    ts: int,
    kind: str,
    key: str | None = "k1",
    *,
    tiebreaker: int | None = None,
    doc_id: str | None = None,
    index: str = "logs",
    other: str | None = None,
) -> Event:
    """Build an event of category ``kind`` whose ``key`` field is ``key``."""
    fields: dict[str, list[object]] = {"kind": [kind]}
    if key is not None:
        fields["key"] = [key]
    if other is not None:
        fields["other"] = [other]
    return Event(
        index=index,
        id=doc_id if doc_id is not None else f"{kind}-{ts}-{key}",
        timestamp=ts,
        tiebreaker=tiebreaker,
        fields=fields,
    )


def kind_is(*kinds: str) -> Predicate:
    """Return a predicate true for events of one of ``kinds``."""
    return lambda event: event.fields["kind"][0] in kinds


def by(*names: str) -> KeyFunction:
    """Return a key function over ``names``; None when one is missing."""

    def key(event: Event) -> JoinKey | None:
        values = []
        for name in names:
            found = event.fields.get(name)
            if not found:
                return None
            values.append(found[0])
        return tuple(values)

    return key


def stage(*kinds: str, key: KeyFunction | None = None, runs: int = 1) -> StagePlan:
    """Return a stage accepting ``kinds``, joined on the ``key`` field."""
    return StagePlan(kind_is(*kinds), key or by("key"), runs)


def dllhost_plan(maxspan_ms: int | None = MINUTE) -> MatchPlan:
    """Return the shape of the DllHost rule: start, then network, by key."""
    return MatchPlan((stage("start"), stage("network")), maxspan_ms, None)


def run(plan: MatchPlan, events: Iterable[Event]) -> list[Match]:
    """Feed ``events`` in order-key order; return every match."""
    matcher = SequenceMatcher(plan)
    found: list[Match] = []
    for event in sorted(events, key=Event.order_key):
        found.extend(matcher.feed(event))
    return found


def ids(matches: list[Match]) -> list[list[str]]:
    """Return the document ids of each match."""
    return [[event.id for event in match.events] for match in matches]


def test_sequence_maxspan_exactly_one_minute_matches() -> None:
    """A second stage exactly maxspan after the first event completes."""
    found = run(dllhost_plan(), [ev(0, "start"), ev(MINUTE, "network")])
    assert ids(found) == [["start-0-k1", f"network-{MINUTE}-k1"]]
    assert found[0].key == ("k1",)


def test_sequence_maxspan_one_ms_over_does_not_match() -> None:
    """A second stage maxspan + 1 ms after the first event does not complete."""
    matcher = SequenceMatcher(dllhost_plan())
    assert matcher.feed(ev(0, "start")) == []
    assert matcher.feed(ev(MINUTE + 1, "network")) == []
    assert matcher.pending_count == 0
    assert matcher.stats.evicted == 1


def test_sequence_maxspan_counts_from_first_event() -> None:
    """Maxspan bounds the last event against the first, not the previous."""
    plan = MatchPlan((stage("a"), stage("b"), stage("c")), MINUTE, None)
    late = [ev(0, "a"), ev(40_000, "b"), ev(MINUTE + 1, "c")]
    in_time = [ev(0, "a"), ev(40_000, "b"), ev(MINUTE, "c")]
    assert run(plan, late) == []
    assert len(run(plan, in_time)) == 1


def test_sequence_no_maxspan_is_unlimited() -> None:
    """Without maxspan, a second stage days later still completes."""
    week = 7 * 24 * 3600 * 1000
    found = run(dllhost_plan(None), [ev(0, "start"), ev(week, "network")])
    assert len(found) == 1


def test_sequence_repeated_starts_latest_wins() -> None:
    """Of two starts with one key, the later one is in the emitted sequence."""
    matcher = SequenceMatcher(dllhost_plan())
    matcher.feed(ev(0, "start", doc_id="first"))
    matcher.feed(ev(10, "start", doc_id="second"))
    assert matcher.pending_count == 1
    assert matcher.stats.replaced == 1
    found = matcher.feed(ev(20, "network", doc_id="net"))
    assert ids(found) == [["second", "net"]]


def test_sequence_repeated_starts_latest_wins_even_if_it_expires() -> None:
    """A replaced start is gone: the later start alone decides maxspan."""
    events = [
        ev(0, "start", doc_id="first"),
        ev(MINUTE, "start", doc_id="second"),
        ev(2 * MINUTE + 1, "network", doc_id="net"),
    ]
    assert run(dllhost_plan(), events) == []


def test_sequence_intermediate_stage_latest_wins() -> None:
    """A newer sequence reaching stage 1 replaces the one waiting there."""
    plan = MatchPlan((stage("a"), stage("b"), stage("c")), None, None)
    events = [
        ev(0, "a", doc_id="a0"),
        ev(1, "b", doc_id="b1"),
        ev(2, "a", doc_id="a2"),
        ev(3, "b", doc_id="b3"),
        ev(4, "c", doc_id="c4"),
    ]
    assert ids(run(plan, events)) == [["a2", "b3", "c4"]]


def test_sequence_equal_timestamps_ordered_by_tiebreaker() -> None:
    """At one millisecond, the tiebreaker decides whether start precedes network."""
    start_first = [
        ev(5, "start", tiebreaker=1),
        ev(5, "network", tiebreaker=2),
    ]
    network_first = [
        ev(5, "start", tiebreaker=2),
        ev(5, "network", tiebreaker=1),
    ]
    assert len(run(dllhost_plan(), start_first)) == 1
    assert run(dllhost_plan(), network_first) == []


def test_sequence_equal_timestamps_ordered_by_index_then_id() -> None:
    """With equal timestamps and tiebreakers, (index, id) gives the order."""
    by_id = [ev(5, "network", doc_id="b"), ev(5, "start", doc_id="a")]
    by_id_reversed = [ev(5, "network", doc_id="a"), ev(5, "start", doc_id="b")]
    by_index = [
        ev(5, "network", index="logs-a", doc_id="a"),
        ev(5, "start", index="logs-b", doc_id="b"),
    ]
    assert len(run(dllhost_plan(), by_id)) == 1
    assert run(dllhost_plan(), by_id_reversed) == []
    assert run(dllhost_plan(), by_index) == []


def test_sequence_event_without_tiebreaker_sorts_after_one_with() -> None:
    """At one millisecond, an event with no tiebreaker comes after one with."""
    events = [ev(5, "network", tiebreaker=None), ev(5, "start", tiebreaker=9)]
    assert len(run(dllhost_plan(), events)) == 1


def test_sequence_completed_is_not_rematched() -> None:
    """A later network event does not match an already completed sequence."""
    matcher = SequenceMatcher(dllhost_plan())
    matcher.feed(ev(0, "start"))
    assert len(matcher.feed(ev(10, "network"))) == 1
    assert matcher.feed(ev(20, "network")) == []
    assert matcher.pending_count == 0
    assert matcher.stats.completed == 1


def test_sequence_second_network_needs_new_start() -> None:
    """After a completion, a new start lets the next network event complete."""
    events = [
        ev(0, "start", doc_id="s1"),
        ev(10, "network", doc_id="n1"),
        ev(20, "network", doc_id="n2"),
        ev(30, "start", doc_id="s2"),
        ev(40, "network", doc_id="n3"),
    ]
    assert ids(run(dllhost_plan(), events)) == [["s1", "n1"], ["s2", "n3"]]


def test_sequence_null_key_takes_no_part() -> None:
    """Events whose join key is missing neither start nor complete sequences."""
    matcher = SequenceMatcher(dllhost_plan())
    matcher.feed(ev(0, "start", key=None))
    assert matcher.pending_count == 0
    matcher.feed(ev(5, "start"))
    assert matcher.feed(ev(10, "network", key=None)) == []
    assert matcher.pending_count == 1


def test_sequence_keys_are_case_sensitive() -> None:
    """Keys differing only in case ("ABC" and "abc") do not join."""
    events = [ev(0, "start", key="ABC"), ev(10, "network", key="abc")]
    assert run(dllhost_plan(), events) == []


def test_sequence_keys_do_not_cross() -> None:
    """Interleaved keys each complete their own sequence."""
    events = [
        ev(0, "start", key="a", doc_id="sa"),
        ev(1, "start", key="b", doc_id="sb"),
        ev(2, "network", key="b", doc_id="nb"),
        ev(3, "network", key="a", doc_id="na"),
    ]
    found = run(dllhost_plan(), events)
    assert ids(found) == [["sb", "nb"], ["sa", "na"]]
    assert [match.key for match in found] == [("b",), ("a",)]


def test_sequence_until_drops_pending() -> None:
    """An until event between start and network prevents the match."""
    plan = MatchPlan((stage("start"), stage("network")), MINUTE, stage("end"))
    matcher = SequenceMatcher(plan)
    matcher.feed(ev(0, "start"))
    matcher.feed(ev(5, "end"))
    assert matcher.pending_count == 0
    assert matcher.stats.until_dropped == 1
    assert matcher.feed(ev(10, "network")) == []


def test_sequence_until_drops_every_stage_of_its_key_only() -> None:
    """Until drops its key's sequences at all stages, other keys survive."""
    plan = MatchPlan((stage("a"), stage("b"), stage("c")), None, stage("end"))
    matcher = SequenceMatcher(plan)
    for event in [ev(0, "a"), ev(1, "b"), ev(2, "a"), ev(3, "a", key="k2")]:
        matcher.feed(event)
    assert matcher.pending_count == 3
    matcher.feed(ev(4, "end"))
    assert matcher.pending_count == 1
    assert matcher.stats.until_dropped == 2


def test_sequence_until_before_start_does_not_drop() -> None:
    """An until event before the start leaves the later sequence alone."""
    plan = MatchPlan((stage("start"), stage("network")), MINUTE, stage("end"))
    events = [ev(0, "end"), ev(5, "start"), ev(10, "network")]
    assert len(run(plan, events)) == 1


def test_sequence_until_event_takes_no_part_in_stages() -> None:
    """An event matching until and a stage drops its key and advances nothing."""
    plan = MatchPlan(
        (stage("start"), stage("network")), MINUTE, stage("network", "start")
    )
    matcher = SequenceMatcher(plan)
    matcher.feed(ev(0, "start"))
    assert matcher.pending_count == 0
    assert matcher.feed(ev(10, "network")) == []


def test_sequence_runs_two() -> None:
    """A stage with runs=2 needs two events of that stage for the key."""
    plan = MatchPlan((stage("start"), stage("network", runs=2)), None, None)
    matcher = SequenceMatcher(plan)
    matcher.feed(ev(0, "start", doc_id="s"))
    assert matcher.feed(ev(1, "network", doc_id="n1")) == []
    assert ids(matcher.feed(ev(2, "network", doc_id="n2"))) == [["s", "n1", "n2"]]


def test_sequence_runs_three_is_three_stages() -> None:
    """runs=3 on a lone stage matches sliding triples, like three copies."""
    runs = MatchPlan((stage("a", runs=3),), None, None)
    copies = MatchPlan((stage("a"), stage("a"), stage("a")), None, None)
    events = [ev(t, "a", doc_id=f"e{t}") for t in range(5)]
    expected = [["e0", "e1", "e2"], ["e1", "e2", "e3"], ["e2", "e3", "e4"]]
    assert ids(run(runs, events)) == expected
    assert ids(run(copies, events)) == expected


def test_sequence_runs_other_key_interrupts_nothing() -> None:
    """Runs count per key: events of another key do not break a run."""
    plan = MatchPlan((stage("a", runs=2),), None, None)
    events = [
        ev(0, "a", key="x", doc_id="x0"),
        ev(1, "a", key="y", doc_id="y1"),
        ev(2, "a", key="x", doc_id="x2"),
    ]
    assert ids(run(plan, events)) == [["x0", "x2"]]


def test_sequence_three_stages() -> None:
    """A three-stage sequence completes in order and only in order."""
    plan = MatchPlan((stage("a"), stage("b"), stage("c")), MINUTE, None)
    in_order = [ev(0, "a"), ev(1, "b"), ev(2, "c")]
    skipped = [ev(0, "a"), ev(2, "c"), ev(3, "b")]
    assert len(run(plan, in_order)) == 1
    assert run(plan, skipped) == []


def test_sequence_per_stage_keys_join_positionally() -> None:
    """Each stage's own key fields join when their values line up."""
    plan = MatchPlan(
        (stage("start", key=by("key")), stage("network", key=by("other"))),
        MINUTE,
        None,
    )
    joined = [ev(0, "start", key="p1"), ev(10, "network", key="zz", other="p1")]
    apart = [ev(0, "start", key="p1"), ev(10, "network", key="p1", other="p2")]
    assert ids(run(plan, joined)) == [["start-0-p1", "network-10-zz"]]
    assert run(plan, apart) == []


def test_sequence_event_matching_two_stages_advances_and_starts() -> None:
    """An event of stages 0 and 1 completes the pending one and opens its own."""
    plan = MatchPlan((stage("a", "both"), stage("b", "both")), None, None)
    matcher = SequenceMatcher(plan)
    matcher.feed(ev(0, "a", doc_id="a0"))
    assert ids(matcher.feed(ev(1, "both", doc_id="x1"))) == [["a0", "x1"]]
    assert matcher.pending_count == 1
    assert ids(matcher.feed(ev(2, "b", doc_id="b2"))) == [["x1", "b2"]]


def test_sequence_event_matching_two_stages_advances_once() -> None:
    """One event moves a sequence by one stage only, never two."""
    plan = MatchPlan((stage("any"), stage("any"), stage("any")), None, None)
    matcher = SequenceMatcher(plan)
    assert matcher.feed(ev(0, "any")) == []
    assert matcher.feed(ev(1, "any")) == []
    assert len(matcher.feed(ev(2, "any"))) == 1


def test_sequence_event_query_emits_every_accepted_event() -> None:
    """A one-stage plan emits each accepted event alone, key or no key."""
    plan = MatchPlan((stage("start"),), None, None)
    events = [ev(0, "start"), ev(1, "network"), ev(2, "start", key=None)]
    found = run(plan, events)
    assert ids(found) == [["start-0-k1"], ["start-2-None"]]
    assert [match.key for match in found] == [(), ()]


def test_sequence_eviction_bounds_pending_at_stage_zero() -> None:
    """Never-completing starts over a long span keep pending_count bounded."""
    matcher = SequenceMatcher(dllhost_plan())
    step = 10
    live = MINUTE // step + 1
    # Sweeps run every eighth of maxspan, so expired starts linger that long.
    slack = MINUTE // 8 // step
    peak = 0
    total = 50_000
    for n in range(total):
        matcher.feed(ev(n * step, "start", key=f"k{n}"))
        peak = max(peak, matcher.pending_count)
    assert live <= peak <= live + slack
    assert matcher.stats.evicted == total - matcher.pending_count


def test_sequence_eviction_bounds_pending_at_later_stages() -> None:
    """Sequences stalled at stage 1 are evicted within two maxspans."""
    plan = MatchPlan((stage("a"), stage("b"), stage("c")), MINUTE, None)
    matcher = SequenceMatcher(plan)
    step = 10
    peak = 0
    for n in range(20_000):
        # Pairs of a and b for fresh keys, b arriving up to a maxspan later,
        # so the stage-1 arrival order is not the first-event order.
        ts = n * step
        matcher.feed(ev(ts, "a", key=f"k{n}"))
        if n >= 5000 and n % 2 == 0:
            matcher.feed(ev(ts, "b", key=f"k{n - 5000 if n % 4 else n}"))
        peak = max(peak, matcher.pending_count)
    assert peak <= 3 * (MINUTE // step + 1)
    assert matcher.stats.completed == 0


@pytest.mark.parametrize("bad", [0, -1])
def test_plan_rejects_non_positive_maxspan(bad: int) -> None:
    """A maxspan of zero or less is refused: Elasticsearch requires positive."""
    with pytest.raises(ValueError, match="maxspan"):
        MatchPlan((stage("a"), stage("b")), bad, None)


def test_plan_rejects_runs_below_one() -> None:
    """runs=0 is refused."""
    with pytest.raises(ValueError, match="runs"):
        stage("a", runs=0)
