"""Compile a loaded rule into what an execution runs.

The parsed query becomes a :class:`~runner.matching.plan.MatchPlan` of exact
predicates and join-key functions for the matcher, the Elasticsearch
prefilter that narrows the fetch, and the list of fields to fetch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from typing import Any

from runner.eql.ast import (
    BoolOp,
    Comparison,
    EventQuery,
    Expr,
    Field,
    Literal,
    Query,
    Sequence,
    Stage,
)
from runner.eql.predicate import compile_condition, compile_keys, referenced_fields
from runner.eql.prefilter import query_prefilter
from runner.errors import RuleError
from runner.matching.plan import MatchPlan, StagePlan
from runner.rules.model import Rule


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to execute.

    Attributes:
        rule: The loaded rule.
        plan: Predicates and keys for the matcher.
        prefilter: The Elasticsearch query that every relevant event matches.
        fields: The fields the predicates and keys read.
    """

    rule: Rule
    plan: MatchPlan
    prefilter: dict[str, Any]
    fields: tuple[str, ...]


def compile_rule(rule: Rule) -> CompiledRule:
    """Compile ``rule``; errors point into the rule file.

    Raises:
        RuleError: located at the construct that cannot be compiled.
    """
    query = rule.parsed
    if rule.event_category_override:
        query = with_category_field(query, rule.event_category_override)
    try:
        plan = match_plan(query)
        prefilter = query_prefilter(query)
    except RuleError as exc:
        if exc.path is not None:
            raise
        raise exc.at(rule.path, *rule.query_offset) from exc
    fields = tuple(sorted(referenced_fields(query)))
    return CompiledRule(rule, plan, prefilter, fields)


def with_category_field(query: Query, field: str) -> Query:
    """Return ``query`` with its categories read from ``field``.

    A rule's ``event_category_override`` names the field that holds the
    category instead of ``event.category``. ``<category> where <condition>``
    then means ``any where field == "<category>" and <condition>``: the same
    exact, any-element test, which the prefilter turns into the same term.
    """
    if isinstance(query, EventQuery):
        return _categorized(query, field)
    stages = tuple(
        dataclasses.replace(stage, query=_categorized(stage.query, field))
        for stage in query.stages
    )
    until = query.until
    if until is not None:
        until = dataclasses.replace(until, query=_categorized(until.query, field))
    return dataclasses.replace(query, stages=stages, until=until)


def _categorized(query: EventQuery, field: str) -> EventQuery:
    if query.category is None:
        return query
    test = Comparison("==", Field(field), Literal(query.category), query.pos)
    condition = BoolOp("and", (test, query.condition), query.pos)
    return EventQuery(None, condition, query.pos)


def match_plan(query: EventQuery | Sequence) -> MatchPlan:
    """Return the matcher's plan of a parsed query."""
    if isinstance(query, EventQuery):
        return MatchPlan((StagePlan(compile_condition(query)),))
    stages = tuple(_stage(stage, query.by) for stage in query.stages)
    until = None if query.until is None else _stage(query.until, query.by)
    return MatchPlan(stages, query.maxspan_ms, until)


def _stage(stage: Stage, shared: Seq[Expr]) -> StagePlan:
    return StagePlan(
        predicate=compile_condition(stage.query),
        key=compile_keys((*shared, *stage.by)),
        runs=stage.runs,
    )
