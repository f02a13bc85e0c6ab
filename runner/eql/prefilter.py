"""Elasticsearch prefilters for EQL queries, and the plan ``runner explain`` prints.

The runner fetches candidate events with one Query DSL query and evaluates
the exact predicate (:mod:`runner.eql.predicate`) on every hit. The query
must never drop an event the predicate keeps; it only has to be narrow enough
to make the fetch cheap. Each stage contributes:

* ``term`` on ``event.category`` (none for ``any``);
* the conditions that translate exactly: ``==`` → ``term``, ``:`` →
  case-insensitive ``term`` or ``wildcard``, ``like`` → ``wildcard``, ``in``
  → ``terms``, numeric ordering → ``range``, ``== null`` / ``!= null`` →
  ``exists``, and ``and``/``or``/``not`` over such parts;
* ``exists`` for each required join key (an event without it takes no part).

Anything else (functions such as ``cidrMatch``, arithmetic, ``regex``,
comparisons between fields) is left out, which widens the query. Widening is
only safe in a positive position, so a translation records whether it is
exact: ``not`` is pushed down only over an exact part, an ``or`` with an
untranslatable branch matches everything, and an ``and`` keeps its
translatable parts but is then no longer exact.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeAlias

from runner import ecs
from runner.eql import functions
from runner.eql.ast import (
    Arithmetic,
    BoolOp,
    Call,
    Comparison,
    EventQuery,
    Expr,
    Field,
    InSet,
    Like,
    Literal,
    Match,
    Not,
    Query,
    Regex,
    Stage,
)
from runner.eql.ast import (
    Sequence as SequenceQuery,
)
from runner.eql.cidr import normalize_ip
from runner.eql.functions import java_string, parse_number
from runner.eql.predicate import CATEGORY_FIELD, fold, has_wildcard

QueryDsl: TypeAlias = dict[str, Any]
Translation: TypeAlias = tuple[QueryDsl, bool] | None
"""A query and whether it is exact (else a superset); None when untranslatable."""

MATCH_ALL: QueryDsl = {"match_all": {}}
MATCH_NONE: QueryDsl = {"match_none": {}}
_RANGE = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
_RANGE_TYPES = (ecs.KEYWORD, ecs.LONG, ecs.FLOAT)
_NO_MATCH = object()
_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


# --- public API -------------------------------------------------------------


def stage_prefilter(query: EventQuery, keys: Sequence[Expr] = ()) -> QueryDsl:
    """Return the query that fetches every candidate event of one stage.

    Args:
        query: The stage's event query.
        keys: The stage's join keys (the sequence's ``by`` and the stage's
            own); each non-optional key field must exist.
    """
    clauses: list[QueryDsl] = []
    if query.category is not None:
        clauses.append({"term": {CATEGORY_FIELD: query.category}})
    for conjunct in _conjuncts(query.condition):
        translated = translate(conjunct)
        if translated is not None and translated[0] != MATCH_ALL:
            clauses.append(translated[0])
    for key in keys:
        if isinstance(key, Field) and not key.optional:
            clauses.append({"exists": {"field": key.name}})
    if not clauses:
        return dict(MATCH_ALL)
    return {"bool": {"filter": clauses}}


def query_prefilter(query: Query) -> QueryDsl:
    """Return the query for a whole EQL query: its stages' prefilters OR-ed.

    An event query gives its one stage's prefilter; a sequence gives a
    ``bool.should`` over its stages and its ``until`` stage.
    """
    if isinstance(query, EventQuery):
        return stage_prefilter(query)
    filters: list[QueryDsl] = []
    for stage in _stages(query):
        stage_filter = stage_prefilter(stage.query, (*query.by, *stage.by))
        if stage_filter == MATCH_ALL:
            return dict(MATCH_ALL)
        if stage_filter not in filters:
            filters.append(stage_filter)
    if len(filters) == 1:
        return filters[0]
    return {"bool": {"should": filters, "minimum_should_match": 1}}


def translate(expr: Expr) -> Translation:
    """Translate a condition to Query DSL.

    Returns:
        ``(query, exact)``: ``exact`` is True when the query matches exactly
        the events the condition accepts, False when it matches a superset.
        None when nothing useful translates (read: ``match_all``).
    """
    expr = fold(expr)
    if isinstance(expr, BoolOp):
        return _translate_bool(expr)
    if isinstance(expr, Not):
        inner = translate(expr.operand)
        if inner is None or not inner[1]:
            return None
        return {"bool": {"must_not": [inner[0]]}}, True
    if isinstance(expr, Literal):
        if expr.value is True:
            return dict(MATCH_ALL), True
        if expr.value is False or expr.value is None:
            return dict(MATCH_NONE), True
        return None
    if isinstance(expr, Comparison):
        return _translate_comparison(expr)
    if isinstance(expr, Match):
        return _translate_patterns(expr.left, expr.patterns, insensitive=True)
    if isinstance(expr, Like):
        return _translate_patterns(expr.left, expr.patterns, expr.insensitive)
    if isinstance(expr, InSet):
        return _translate_in(expr)
    return None


# --- translation --------------------------------------------------------------


def _stages(query: SequenceQuery) -> list[Stage]:
    return [*query.stages, *((query.until,) if query.until else ())]


def _conjuncts(expr: Expr) -> list[Expr]:
    if isinstance(expr, BoolOp) and expr.op == "and":
        return [part for operand in expr.operands for part in _conjuncts(operand)]
    return [expr]


def _translate_bool(expr: BoolOp) -> Translation:
    parts = [translate(operand) for operand in expr.operands]
    if expr.op == "or":
        if any(part is None for part in parts):
            return None
        exact = all(part[1] for part in parts if part is not None)
        should = [part[0] for part in parts if part is not None]
        return {"bool": {"should": should, "minimum_should_match": 1}}, exact
    kept = [part for part in parts if part is not None]
    exact = len(kept) == len(parts) and all(part[1] for part in kept)
    if not kept:
        return None
    if len(kept) == 1:
        return kept[0][0], exact
    return {"bool": {"filter": [part[0] for part in kept]}}, exact


def _pushable_field(expr: Expr) -> Field | None:
    """Return the field of a comparison that can be pushed down, if any.

    Known ECS ``date`` fields are left to the client: a ``range`` on them
    parses dates, while the predicate compares the formatted strings.
    """
    if isinstance(expr, Field) and ecs.field_type(expr.name) != ecs.DATE:
        return expr
    return None


def _translate_comparison(expr: Comparison) -> Translation:
    left, right, op = fold(expr.left), fold(expr.right), expr.op
    if isinstance(left, Literal) and not isinstance(right, Literal):
        left, right, op = right, left, _FLIPPED[op]
    field = _pushable_field(left)
    if field is None or not isinstance(right, Literal):
        return None
    name = field.name
    if right.value is None:
        exists: QueryDsl = {"exists": {"field": name}}
        if op == "!=":
            return exists, True
        return ({"bool": {"must_not": [exists]}}, True) if op == "==" else None
    if op in ("==", "!="):
        value = _term_value(name, right.value)
        if value is _NO_MATCH:
            return dict(MATCH_NONE if op == "==" else MATCH_ALL), True
        term: QueryDsl = {"term": {name: value}}
        return (term, True) if op == "==" else ({"bool": {"must_not": [term]}}, True)
    kind = ecs.field_type(name)
    if type(right.value) in (int, float) and kind in _RANGE_TYPES:
        return {"range": {name: {_RANGE[op]: right.value}}}, True
    return None


def _term_value(name: str, value: Any) -> Any:
    """Return ``value`` as a term query on a known ECS field needs it.

    Returns ``_NO_MATCH`` for a value the field's type cannot hold: the
    query would fail in Elasticsearch, and the predicate never matches it.
    """
    kind = ecs.field_type(name)
    if kind == ecs.IP:
        address = normalize_ip(value)
        return _NO_MATCH if address is None else address
    if kind in (ecs.LONG, ecs.FLOAT):
        number = value if type(value) in (int, float) else None
        if type(value) is str:
            number = parse_number(value)
        return _NO_MATCH if number is None else number
    if kind == ecs.BOOLEAN:
        if type(value) is bool or value in ("true", "false"):
            return value
        return _NO_MATCH
    return value


def _translate_patterns(
    left: Expr, patterns: Sequence[Expr], insensitive: bool
) -> Translation:
    field = _pushable_field(left)
    if field is None or ecs.field_type(field.name) != ecs.KEYWORD:
        return None
    queries = []
    for pattern in patterns:
        value = pattern.value if isinstance(pattern, Literal) else None
        # Elasticsearch folds case in ASCII only for these queries; a
        # non-ASCII pattern could then miss events the predicate keeps.
        if type(value) is not str or (insensitive and not value.isascii()):
            return None
        queries.append(_pattern_query(field.name, value, insensitive))
    return _any_query(queries), True


def _pattern_query(name: str, pattern: str, insensitive: bool) -> QueryDsl:
    if not has_wildcard(pattern):
        if not insensitive:
            return {"term": {name: pattern}}
        return {"term": {name: {"value": pattern, "case_insensitive": True}}}
    # EQL has no escape for * and ?, so only the wildcard query's own escape
    # character, the backslash, needs escaping.
    body: dict[str, Any] = {"value": pattern.replace("\\", "\\\\")}
    if insensitive:
        body["case_insensitive"] = True
    return {"wildcard": {name: body}}


def _any_query(queries: list[QueryDsl]) -> QueryDsl:
    if len(queries) == 1:
        return queries[0]
    return {"bool": {"should": queries, "minimum_should_match": 1}}


def _translate_in(expr: InSet) -> Translation:
    field = _pushable_field(expr.left)
    members = [fold(member) for member in expr.values]
    if field is None or not all(isinstance(m, Literal) for m in members):
        return None
    constants = [m.value for m in members if isinstance(m, Literal)]
    if expr.insensitive:
        return _translate_in_insensitive(field.name, constants)
    values = [_term_value(field.name, c) for c in constants if c is not None]
    values = [value for value in values if value is not _NO_MATCH]
    if not values:
        return dict(MATCH_NONE), True
    return {"terms": {field.name: values}}, True


def _translate_in_insensitive(name: str, constants: list[Any]) -> Translation:
    texts = [java_string(constant) for constant in constants]
    if ecs.field_type(name) != ecs.KEYWORD:
        return None
    if not all(text is None or text.isascii() for text in texts):
        return None
    queries = [
        {"term": {name: {"value": text, "case_insensitive": True}}}
        for text in texts
        if text is not None
    ]
    return (_any_query(queries), True) if queries else (dict(MATCH_NONE), True)


# --- explain ------------------------------------------------------------------


def explain_plan(query: Query) -> str:
    """Return the client-side plan of a query, for ``runner explain``.

    Per stage: its category, its condition rendered back as EQL, which parts
    Elasticsearch filters on and which only the runner evaluates, its join
    keys; then the sequence's maxspan and ``until``.
    """
    if isinstance(query, EventQuery):
        return "\n".join(["event query", *_explain_stage(query, ())])
    lines = [f"sequence of {len(query.stages)} stages"]
    lines.append(f"  maxspan: {_duration(query.maxspan_ms)}")
    for number, stage in enumerate(query.stages, start=1):
        lines.append(f"stage {number}:")
        lines.extend(_explain_stage(stage.query, (*query.by, *stage.by), stage.runs))
    if query.until is None:
        lines.append("until: none")
    else:
        lines.append("until:")
        keys = (*query.by, *query.until.by)
        lines.extend(_explain_stage(query.until.query, keys, query.until.runs))
    lines.append("every hit is re-checked client-side with the exact predicate")
    return "\n".join(lines)


def _explain_stage(query: EventQuery, keys: Sequence[Expr], runs: int = 1) -> list[str]:
    lines = [
        f"  category: {query.category or 'any'}",
        f"  condition: {render(query.condition)}",
    ]
    sections: dict[str, list[str]] = {"exact": [], "widened": [], "client": []}
    for conjunct in _conjuncts(query.condition):
        translated = translate(conjunct)
        kind = (
            "client" if translated is None else "exact" if translated[1] else "widened"
        )
        sections[kind].append(render(conjunct))
    titles = {
        "exact": "pushed down (exact)",
        "widened": "pushed down (widened, refined client-side)",
        "client": "client-side only",
    }
    for kind, title in titles.items():
        if sections[kind]:
            lines.append(f"  {title}:")
            lines.extend(f"    {text}" for text in sections[kind])
    names = ", ".join(render(key) for key in keys) or "none"
    lines.append(f"  join keys: {names}")
    if runs > 1:
        lines.append(f"  runs: {runs}")
    return lines


def _duration(milliseconds: int | None) -> str:
    if milliseconds is None:
        return "none"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if milliseconds % size == 0:
            return f"{milliseconds // size}{unit} ({milliseconds} ms)"
    return f"{milliseconds}ms"


def render(expr: Expr) -> str:
    """Render an expression back as EQL text."""
    if isinstance(expr, Literal):
        return _render_literal(expr.value)
    if isinstance(expr, Field):
        return ("?" if expr.optional else "") + expr.name
    if isinstance(expr, Not):
        return f"not {_grouped(expr.operand)}"
    if isinstance(expr, BoolOp):
        return f" {expr.op} ".join(_grouped(operand) for operand in expr.operands)
    if isinstance(expr, Comparison):
        return f"{_grouped(expr.left)} {expr.op} {_grouped(expr.right)}"
    if isinstance(expr, Arithmetic):
        return f"{_grouped(expr.left)} {expr.op} {_grouped(expr.right)}"
    if isinstance(expr, Call):
        name = functions.display_name(expr.name) + ("~" if expr.insensitive else "")
        return f"{name}({', '.join(render(arg) for arg in expr.args)})"
    if isinstance(expr, InSet):
        keyword = "in~" if expr.insensitive else "in"
        values = ", ".join(render(value) for value in expr.values)
        return f"{_grouped(expr.left)} {keyword} ({values})"
    keyword = {Match: ":", Like: "like", Regex: "regex"}[type(expr)]
    if not isinstance(expr, Match) and expr.insensitive:
        keyword += "~"
    patterns = [render(pattern) for pattern in expr.patterns]
    listed = patterns[0] if len(patterns) == 1 else f"({', '.join(patterns)})"
    return f"{_grouped(expr.left)} {keyword} {listed}"


def _grouped(expr: Expr) -> str:
    text = render(expr)
    return f"({text})" if isinstance(expr, BoolOp | Arithmetic) else text


def _render_literal(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is str:
        return json.dumps(value, ensure_ascii=False)
    return repr(value)
