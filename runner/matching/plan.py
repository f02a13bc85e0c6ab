"""What the sequence matcher runs: compiled stages, join keys and limits.

The compiler turns a parsed query into a :class:`MatchPlan`; the matcher only
calls the plan's callables and never looks at the syntax tree. An event query
(``process where ...``) is a plan of one stage: every event its predicate
accepts is a match on its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from runner.events import Event

JoinKey: TypeAlias = tuple[Any, ...]
"""The values of a stage's ``by`` fields for one event, compared as a tuple."""

Predicate: TypeAlias = Callable[[Event], bool]
KeyFunction: TypeAlias = Callable[[Event], JoinKey | None]


def no_key(event: Event) -> JoinKey:
    """Return the empty join key: for stages of a query without ``by``."""
    return ()


@dataclass(frozen=True, slots=True)
class StagePlan:
    """One stage of a sequence, or the ``until`` condition.

    Attributes:
        predicate: True when the event satisfies the stage's condition.
        key: The event's join key, or None when the event takes no part in
            joins (a required ``by`` field is null or missing).
        runs: How many consecutive events for one key the stage needs
            (``with runs=N``); the matcher treats it as N copies of the stage.
    """

    predicate: Predicate
    key: KeyFunction = no_key
    runs: int = 1

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ValueError(f"runs must be at least 1, got {self.runs}")


@dataclass(frozen=True, slots=True)
class MatchPlan:
    """A whole query, ready for :class:`runner.matching.sequence.SequenceMatcher`.

    Attributes:
        stages: The stages in query order; at least one.
        maxspan_ms: The largest allowed time between the first and the last
            event of a sequence, inclusive, or None for no limit.
        until: The stage whose events drop the pending sequences of their
            key, or None.
    """

    stages: tuple[StagePlan, ...]
    maxspan_ms: int | None = None
    until: StagePlan | None = None

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("a match plan needs at least one stage")
        # Elasticsearch refuses a maxspan that is not positive, so 0 cannot
        # come from a valid query.
        if self.maxspan_ms is not None and self.maxspan_ms <= 0:
            raise ValueError(f"maxspan_ms must be positive, got {self.maxspan_ms}")
        if self.is_event_query and (self.until is not None or self.maxspan_ms):
            raise ValueError("an event query takes no until and no maxspan")

    @property
    def is_event_query(self) -> bool:
        """Return True when every accepted event is a one-event match."""
        return len(self.stages) == 1 and self.stages[0].runs == 1

    def expanded_stages(self) -> tuple[StagePlan, ...]:
        """Return the stages with ``runs=N`` unrolled into N stages of one run.

        Elasticsearch defines ``[stage] with runs=N`` as the stage written N
        times, so unrolling is exact.
        """
        expanded: list[StagePlan] = []
        for stage in self.stages:
            single = dataclasses.replace(stage, runs=1)
            expanded.extend([single] * stage.runs)
        return tuple(expanded)
