"""Compile an EQL syntax tree into exact Python predicates over events.

The predicates reproduce Elasticsearch's EQL as it runs when pushed down to
Query DSL, which is two-valued:

* a condition over a missing field is false, and ``not`` negates it, so
  ``x != "a"`` and ``not cidrMatch(destination.ip, ...)`` are true for an
  event without the field, like a ``must_not`` query;
* a comparison against a multi-valued field is true when any value satisfies
  it, and ``!=`` is ``not ==`` (false when any value is equal);
* a function returning null (a null argument) is false as a condition, and
  ``not`` of it is true;
* ``field == null`` is true when the field is missing, ``field != null`` when
  it is present (Elasticsearch turns them into ``exists`` queries).

Values are compared as Elasticsearch indexed them: a number compared with a
string field is turned into the string a ``term`` query would look for
(``1`` → ``"1"``), a string compared with a numeric field is parsed as a
number, and a string compared with a known ECS ``ip`` field is normalised.
When neither side is a constant, the left side's type decides.

Everything is compiled once into closures: constants are folded, patterns are
lowered and compiled, ``and``/``or`` short-circuit with their cheapest operands
first (safe: every predicate is pure and never raises).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from itertools import product
from typing import Any, Final, TypeAlias

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
from runner.eql.functions import java_string, parse_number, rule_error
from runner.events import Event

Predicate: TypeAlias = Callable[[Event], bool]
Values: TypeAlias = Callable[[Event], Sequence[Any]]
ValueTest: TypeAlias = Callable[[Any], bool]
TextCheck: TypeAlias = Callable[[str], bool]
KeyFunction: TypeAlias = Callable[[Event], tuple[Any, ...] | None]

CATEGORY_FIELD: Final = "event.category"
"""The field an event query's category is matched against."""

_NULL: Final = (None,)
_TRUE: Final = (True,)
_FALSE: Final = (False,)
_FLIPPED: Final = {"==": "==", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_BOOLEAN_STRINGS: Final = {"true": True, "false": False}
_BOOLEAN_NODES: Final = (Not, BoolOp, Comparison, Match, InSet, Like, Regex)


def _always(event: Event) -> bool:
    return True


def _never(event: Event) -> bool:
    return False


# --- public API -------------------------------------------------------------


def compile_condition(query: EventQuery) -> Predicate:
    """Return the predicate of an event query: its category, then its condition.

    ``process where ...`` requires ``process`` among the values of
    ``event.category`` (exact); ``any where ...`` checks no category.

    Raises:
        RuleError: The condition is not valid EQL (an unknown function, a
            string where a condition belongs, ...); located at the construct.
        UnsupportedError: The condition uses something the runner does not
            evaluate (a regular expression it cannot translate, ...).
    """
    condition = _compile_bool(query.condition)
    category = query.category
    if category is None:
        return condition
    if condition is _always:

        def category_only(event: Event) -> bool:
            categories = event.fields.get(CATEGORY_FIELD)
            return categories is not None and category in categories

        return category_only

    def predicate(event: Event) -> bool:
        categories = event.fields.get(CATEGORY_FIELD)
        return categories is not None and category in categories and condition(event)

    return predicate


def compile_expr(expr: Expr) -> Callable[[Event], Any]:
    """Return a function computing ``expr`` for an event.

    A comparison or logical operator gives a bool. A value, including a
    function's result, gives None when null or missing, the value when there
    is one, and a tuple when a multi-valued field makes several.
    """
    if isinstance(expr, _BOOLEAN_NODES):
        return _compile_bool(expr)
    values = _compile_values(expr)

    def evaluate(event: Event) -> Any:
        result = values(event)
        return result[0] if len(result) == 1 else tuple(result)

    return evaluate


def compile_keys(keys: Sequence[Expr]) -> KeyFunction:
    """Return the join key extractor of ``by`` keys.

    The key is a tuple with one element per key field: the value, or a tuple
    of the values of a multi-valued field. A missing key field makes the whole
    key None (the event takes no part in joins), unless the field is optional
    (``?field``): then its element is None. Values are compared exactly.

    Raises:
        UnsupportedError: A key is not a field (Elasticsearch allows only
            fields as join keys).
    """
    fields = [_key_field(key) for key in keys]
    specs = tuple((field.name, field.optional) for field in fields)
    if not specs:
        return lambda event: ()
    if len(specs) == 1 and not specs[0][1]:
        return _single_key(specs[0][0])

    def key(event: Event) -> tuple[Any, ...] | None:
        get = event.fields.get
        parts: list[Any] = []
        for name, optional in specs:
            values = get(name)
            if not values:
                if not optional:
                    return None
                parts.append(None)
            else:
                parts.append(values[0] if len(values) == 1 else tuple(values))
        return tuple(parts)

    return key


def referenced_fields(node: Query | Stage | Expr) -> set[str]:
    """Return every field name a query, stage or expression reads.

    An event query with a category reads ``event.category``; a sequence
    reads its join keys and its ``until`` stage as well.
    """
    names: set[str] = set()
    for expr in _query_exprs(node):
        names.update(_field_names(expr))
    return names


def fold(expr: Expr) -> Expr:
    """Return ``expr`` with arithmetic over constants computed (``-1``, ``2 * 3``)."""
    if not isinstance(expr, Arithmetic):
        return expr
    left, right = fold(expr.left), fold(expr.right)
    if isinstance(left, Literal) and isinstance(right, Literal):
        apply = functions.FUNCTIONS[functions.ARITHMETIC[expr.op]].impl
        return Literal(apply(left.value, right.value), expr.pos)
    return Arithmetic(expr.op, left, right, expr.pos)


def has_wildcard(pattern: str) -> bool:
    """Return True when a ``:`` or ``like`` pattern contains ``*`` or ``?``."""
    return "*" in pattern or "?" in pattern


# --- tree walking -----------------------------------------------------------


def _query_exprs(node: Query | Stage | Expr) -> Iterator[Expr]:
    if isinstance(node, SequenceQuery):
        yield from node.by
        for stage in (*node.stages, *((node.until,) if node.until else ())):
            yield from _query_exprs(stage)
    elif isinstance(node, Stage):
        yield from node.by
        yield from _query_exprs(node.query)
    elif isinstance(node, EventQuery):
        if node.category is not None:
            yield Field(CATEGORY_FIELD)
        yield node.condition
    else:
        yield node


def children(expr: Expr) -> tuple[Expr, ...]:
    """Return the direct sub-expressions of ``expr``."""
    if isinstance(expr, Not):
        return (expr.operand,)
    if isinstance(expr, BoolOp):
        return expr.operands
    if isinstance(expr, Comparison | Arithmetic):
        return (expr.left, expr.right)
    if isinstance(expr, Match | Like | Regex):
        return (expr.left, *expr.patterns)
    if isinstance(expr, InSet):
        return (expr.left, *expr.values)
    if isinstance(expr, Call):
        return expr.args
    return ()


def _field_names(expr: Expr) -> Iterator[str]:
    if isinstance(expr, Field):
        yield expr.name
    for child in children(expr):
        yield from _field_names(child)


def _cost(expr: Expr) -> int:
    """Estimate how expensive an operand is, to evaluate cheap ones first."""
    if isinstance(expr, Literal | Field):
        return 1
    if isinstance(expr, Comparison):
        simple = {type(fold(expr.left)), type(fold(expr.right))} <= {Field, Literal}
        return 2 if simple else 6 + _cost(expr.left) + _cost(expr.right)
    if isinstance(expr, InSet):
        return 2 + _cost(expr.left)
    if isinstance(expr, Match | Like):
        patterns = [p.value for p in expr.patterns if isinstance(p, Literal)]
        wild = any(isinstance(p, str) and has_wildcard(p) for p in patterns)
        return (4 if wild else 3) + _cost(expr.left)
    if isinstance(expr, Regex):
        return 8 + _cost(expr.left)
    return 6 + sum(_cost(child) for child in children(expr))


# --- conditions -------------------------------------------------------------


def _compile_bool(expr: Expr) -> Predicate:
    """Compile an expression used as a condition."""
    if isinstance(expr, Literal):
        return _literal_condition(expr)
    if isinstance(expr, Field):
        return _any_value(expr, _is_true)
    if isinstance(expr, Not):
        return _negate(_compile_bool(expr.operand))
    if isinstance(expr, BoolOp):
        return _bool_op(expr)
    if isinstance(expr, Comparison):
        return _comparison(expr)
    if isinstance(expr, Match):
        return _match(expr)
    if isinstance(expr, InSet):
        return _in_set(expr)
    if isinstance(expr, Like):
        texts = _constant_texts(expr.patterns, "like", strings_only=True)
        check = _text_check(texts, insensitive=expr.insensitive, wildcards=True)
        return _text_predicate(expr.left, check, expr.insensitive)
    if isinstance(expr, Regex):
        return _regex(expr)
    if isinstance(expr, Call):
        return _call_condition(expr)
    raise rule_error("arithmetic is not a condition", expr.pos)


def _literal_condition(expr: Literal) -> Predicate:
    if expr.value is True:
        return _always
    if expr.value is False or expr.value is None:
        return _never
    raise rule_error(f"the constant {expr.value!r} is not a condition", expr.pos)


def _is_true(value: Any) -> bool:
    return value is True


def _negate(inner: Predicate) -> Predicate:
    if inner is _always:
        return _never
    if inner is _never:
        return _always
    return lambda event: not inner(event)


def _bool_op(expr: BoolOp) -> Predicate:
    operands = sorted(expr.operands, key=_cost)
    predicates = [_compile_bool(operand) for operand in operands]
    if expr.op == "and":
        return _all_of([p for p in predicates if p is not _always])
    if expr.op == "or":
        return _any_of([p for p in predicates if p is not _never])
    raise rule_error(f"unknown boolean operator {expr.op!r}", expr.pos)


def _all_of(predicates: list[Predicate]) -> Predicate:
    if _never in predicates:
        return _never
    if not predicates:
        return _always
    # Unrolled up to four operands: one call instead of a loop of calls.
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        a, b = predicates
        return lambda event: a(event) and b(event)
    if len(predicates) == 3:
        a, b, c = predicates
        return lambda event: a(event) and b(event) and c(event)
    if len(predicates) == 4:
        a, b, c, d = predicates
        return lambda event: a(event) and b(event) and c(event) and d(event)
    head, tail = _all_of(predicates[:4]), _all_of(predicates[4:])
    return lambda event: head(event) and tail(event)


def _any_of(predicates: list[Predicate]) -> Predicate:
    if _always in predicates:
        return _always
    if not predicates:
        return _never
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        a, b = predicates
        return lambda event: a(event) or b(event)
    if len(predicates) == 3:
        a, b, c = predicates
        return lambda event: a(event) or b(event) or c(event)
    if len(predicates) == 4:
        a, b, c, d = predicates
        return lambda event: a(event) or b(event) or c(event) or d(event)
    head, tail = _any_of(predicates[:4]), _any_of(predicates[4:])
    return lambda event: head(event) or tail(event)


def _any_value(expr: Expr, test: ValueTest) -> Predicate:
    """Return a predicate true when ``test`` accepts any value of ``expr``."""
    if isinstance(expr, Field):
        name = expr.name

        def field_test(event: Event) -> bool:
            values = event.fields.get(name)
            return values is not None and any(map(test, values))

        return field_test
    values = _compile_values(expr)
    return lambda event: any(map(test, values(event)))


# --- comparisons --------------------------------------------------------------


def _comparison(expr: Comparison) -> Predicate:
    if expr.op == "!=":
        return _negate(_comparison(Comparison("==", expr.left, expr.right, expr.pos)))
    if expr.op != "==" and expr.op not in _ORDER:
        raise rule_error(f"unknown comparison {expr.op!r}", expr.pos)
    left, right, op = fold(expr.left), fold(expr.right), expr.op
    if isinstance(left, Literal) and not isinstance(right, Literal):
        left, right, op = right, left, _FLIPPED[op]
    if not isinstance(right, Literal):
        return _compare_expressions(left, op, right)
    if right.value is None:
        # Only equality with null has a meaning (missing); ordering is null.
        return _null_check(left) if op == "==" else _never
    constant = _ip_constant(left, right.value)
    if op != "==":
        return _any_value(left, _order_test(_ORDER[op], constant))
    if isinstance(left, Field) and _only_strings_equal(constant):
        return _field_contains(left.name, constant)
    if isinstance(left, Field) and type(constant) in (int, float):
        return _field_equals_number(left.name, constant)
    return _any_value(left, _equal_test(constant))


def _ip_constant(expr: Expr, value: Any) -> Any:
    """Normalise a constant compared with an ECS ``ip`` field, as a term query does."""
    if (
        isinstance(expr, Field)
        and type(value) is str
        and ecs.field_type(expr.name) == ecs.IP
    ):
        return normalize_ip(value) or value
    return value


def _only_strings_equal(value: Any) -> bool:
    """Return True when only a string value can equal ``value``."""
    if type(value) is not str:
        return False
    return parse_number(value) is None and value not in _BOOLEAN_STRINGS


def _field_contains(name: str, value: str) -> Predicate:
    def contains(event: Event) -> bool:
        values = event.fields.get(name)
        return values is not None and value in values

    return contains


def _field_equals_number(name: str, number: int | float) -> Predicate:
    text = java_string(number)

    def equals(event: Event) -> bool:
        values = event.fields.get(name)
        if values is None:
            return False
        for value in values:
            kind = type(value)
            if (kind is int or kind is float) and value == number:
                return True
            if kind is str and value == text:
                return True
        return False

    return equals


def _null_check(expr: Expr) -> Predicate:
    if isinstance(expr, Field):
        name = expr.name
        return lambda event: not event.fields.get(name)
    values = _compile_values(expr)
    return lambda event: any(value is None for value in values(event))


def _as_text(value: Any) -> str | None:
    return java_string(value)


def _as_number(value: object) -> int | float | None:
    if isinstance(value, str):
        return parse_number(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _as_boolean(value: Any) -> bool | None:
    if type(value) is bool:
        return value
    return _BOOLEAN_STRINGS.get(value) if type(value) is str else None


def _equal_test(constant: Any) -> ValueTest:
    """Return a test of ``value == constant``, ``constant`` taking the value's type."""
    text, number, boolean = (
        _as_text(constant),
        _as_number(constant),
        _as_boolean(constant),
    )

    def equal(value: object) -> bool:
        kind = type(value)
        if kind is str:
            return value == text
        if kind is int or kind is float:
            return number is not None and value == number
        return kind is bool and boolean is not None and value is boolean

    return equal


def _order_test(compare: Callable[[Any, Any], bool], constant: Any) -> ValueTest:
    text, number = _as_text(constant), _as_number(constant)

    def ordered(value: Any) -> bool:
        kind = type(value)
        if kind is str:
            return text is not None and compare(value, text)
        if kind is int or kind is float:
            return number is not None and compare(value, number)
        return False

    return ordered


def _equal(value: Any, other: Any) -> bool:
    """Return ``value == other`` with ``other`` converted to the value's type."""
    return other is not None and _equal_test(other)(value)


def _ordered(order: Callable[[Any, Any], bool], value: Any, other: Any) -> bool:
    """Return ``value <op> other`` with ``other`` converted to the value's type."""
    return other is not None and _order_test(order, other)(value)


def _compare_expressions(left: Expr, op: str, right: Expr) -> Predicate:
    left_values, right_values = _compile_values(left), _compile_values(right)
    compare = _equal if op == "==" else partial(_ordered, _ORDER[op])

    def predicate(event: Event) -> bool:
        others = right_values(event)
        return any(compare(a, b) for a in left_values(event) for b in others)

    return predicate


# --- string matching ---------------------------------------------------------


def _constant_texts(
    patterns: Sequence[Expr], operator_name: str, *, strings_only: bool
) -> list[str]:
    """Return the constant patterns of ``:``, ``like`` or ``regex`` as strings."""
    texts = []
    for pattern in patterns:
        value = pattern.value if isinstance(pattern, Literal) else None
        text = value if type(value) is str else None
        if text is None and not strings_only and value is not None:
            text = java_string(value)
        if text is None:
            message = f"the patterns of {operator_name} must be constant strings"
            raise rule_error(message, pattern.pos, unsupported=True)
        texts.append(text)
    return texts


def _wildcard_regex(pattern: str) -> str:
    return "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char)
        for char in pattern
    )


def _text_check(
    patterns: Sequence[str], *, insensitive: bool, wildcards: bool
) -> TextCheck:
    """Return a check of a string against patterns, fastest form per pattern shape.

    With ``insensitive``, the patterns are lowered here and the check expects
    a lowered string.
    """
    exact: set[str] = set()
    shapes: dict[str, list[str]] = {
        "prefix": [],
        "suffix": [],
        "infix": [],
        "regex": [],
    }
    for pattern in patterns:
        pattern = pattern.lower() if insensitive else pattern
        if not wildcards or not has_wildcard(pattern):
            exact.add(pattern)
            continue
        core = pattern.strip("*")
        if "?" in pattern or "*" in core:
            shapes["regex"].append(pattern)
        elif pattern.startswith("*") and pattern.endswith("*"):
            shapes["infix"].append(core)
        elif pattern.endswith("*"):
            shapes["prefix"].append(core)
        else:
            shapes["suffix"].append(core)
    checks = _shape_checks(exact, shapes)
    if len(checks) == 1:
        return checks[0]
    return lambda text: any(check(text) for check in checks)


def _shape_checks(exact: set[str], shapes: dict[str, list[str]]) -> list[TextCheck]:
    checks: list[TextCheck] = []
    if exact:
        checks.append(frozenset(exact).__contains__)
    prefixes, suffixes = tuple(shapes["prefix"]), tuple(shapes["suffix"])
    infixes = tuple(shapes["infix"])
    if prefixes:
        checks.append(lambda text: text.startswith(prefixes))
    if suffixes:
        checks.append(lambda text: text.endswith(suffixes))
    if infixes:
        checks.append(lambda text: any(infix in text for infix in infixes))
    if shapes["regex"]:
        joined = "|".join(f"(?:{_wildcard_regex(p)})" for p in shapes["regex"])
        compiled = re.compile(joined, re.DOTALL)
        checks.append(lambda text: compiled.fullmatch(text) is not None)
    return checks


def _text_test(check: TextCheck, insensitive: bool) -> ValueTest:
    """Apply a text check to a value; numbers and booleans as their keyword text."""
    if insensitive:

        def insensitive_test(value: Any) -> bool:
            if type(value) is not str:
                value = _scalar_text(value)
                if value is None:
                    return False
            return check(value.lower())

        return insensitive_test

    def test(value: Any) -> bool:
        if type(value) is not str:
            value = _scalar_text(value)
            if value is None:
                return False
        return check(value)

    return test


def _text_predicate(expr: Expr, check: TextCheck, insensitive: bool) -> Predicate:
    """Return a predicate applying a text check to any value of ``expr``."""
    if not isinstance(expr, Field):
        return _any_value(expr, _text_test(check, insensitive))
    name = expr.name

    # The loop is inlined for fields, the common case on the hot path.
    def field_text(event: Event) -> bool:
        values = event.fields.get(name)
        if values is None:
            return False
        for value in values:
            if type(value) is not str:
                value = _scalar_text(value)
                if value is None:
                    continue
            if check(value.lower() if insensitive else value):
                return True
        return False

    return field_text


def _scalar_text(value: Any) -> str | None:
    kind = type(value)
    if kind is int or kind is float or kind is bool:
        return java_string(value)
    return None


def _match(expr: Match) -> Predicate:
    texts = _constant_texts(expr.patterns, ":", strings_only=False)
    check = _text_check(texts, insensitive=True, wildcards=True)
    return _text_predicate(expr.left, check, insensitive=True)


def _in_set(expr: InSet) -> Predicate:
    members = [fold(member) for member in expr.values]
    if not all(isinstance(member, Literal) for member in members):
        if expr.insensitive:
            message = "in~ needs constant values"
            raise rule_error(message, expr.pos, unsupported=True)
        equalities = tuple(Comparison("==", expr.left, m, expr.pos) for m in members)
        return _compile_bool(BoolOp("or", equalities, expr.pos))
    constants = [
        _ip_constant(expr.left, member.value)
        for member in members
        if isinstance(member, Literal) and member.value is not None
    ]
    if expr.insensitive:
        texts = [text for text in map(java_string, constants) if text is not None]
        check = _text_check(texts, insensitive=True, wildcards=False)
        return _text_predicate(expr.left, check, insensitive=True)
    if isinstance(expr.left, Field) and all(map(_only_strings_equal, constants)):
        return _field_in_strings(expr.left.name, frozenset(constants))
    tests = [_equal_test(constant) for constant in constants]
    return _any_value(expr.left, lambda value: any(test(value) for test in tests))


def _field_in_strings(name: str, members: frozenset[str]) -> Predicate:
    def field_in(event: Event) -> bool:
        values = event.fields.get(name)
        if not values:
            return False
        try:
            return not members.isdisjoint(values)
        except TypeError:
            # An object value is unhashable; only strings can match anyway.
            return any(type(value) is str and value in members for value in values)

    return field_in


def _regex(expr: Regex) -> Predicate:
    texts = _constant_texts(expr.patterns, "regex", strings_only=True)
    flags = re.DOTALL | (re.IGNORECASE if expr.insensitive else 0)
    translated = []
    for pattern, text in zip(expr.patterns, texts, strict=True):
        try:
            translated.append(re.compile(lucene_regex(text), flags).pattern)
        except (ValueError, re.error) as exc:
            message = f"regular expression {text!r} cannot be evaluated: {exc}"
            raise rule_error(message, pattern.pos, unsupported=True) from exc
    compiled = re.compile("|".join(f"(?:{p})" for p in translated), flags)

    def check(text: str) -> bool:
        return compiled.fullmatch(text) is not None

    return _text_predicate(expr.left, check, insensitive=False)


# --- Lucene regular expressions ------------------------------------------------

_INTERVAL: Final = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_SHORTHANDS: Final = frozenset("dDsSwW")
# Operators of Lucene's optional syntax (complement, intersection, any
# string, empty language, numeric interval) and anchors, which are literal
# characters there but anchors in Java: their meaning depends on the engine.
_REFUSED: Final = frozenset("@#&~<>^$")


def lucene_regex(pattern: str) -> str:
    """Translate a Lucene regular expression into Python ``re`` syntax.

    Elasticsearch runs ``regex`` as a ``regexp`` query, whose syntax is
    Lucene's (https://www.elastic.co/guide/en/elasticsearch/reference/current/regexp-syntax.html):
    always anchored, ``"..."`` quotes literally, ``\\d \\s \\w`` classes. The
    common subset is translated; constructs whose meaning differs between
    engines are refused.

    Raises:
        ValueError: The pattern uses a construct that is not translated; the
            message says which.
    """
    out: list[str] = []
    index, quantified = 0, False
    while index < len(pattern):
        char = pattern[index]
        is_quantifier = False
        if char == "\\":
            if index + 1 == len(pattern):
                raise ValueError("it ends with a lone backslash")
            escaped = pattern[index + 1]
            out.append("\\" + escaped if escaped in _SHORTHANDS else re.escape(escaped))
            index += 2
            quantified = False
            continue
        if char == '"':
            end = pattern.find('"', index + 1)
            if end < 0:
                raise ValueError("a quoted string is not closed")
            out.append("(?:" + re.escape(pattern[index + 1 : end]) + ")")
            index = end + 1
        elif char == "[":
            text, index = _char_class(pattern, index)
            out.append(text)
        elif char == "{":
            interval = _INTERVAL.match(pattern, index)
            if interval is None or quantified:
                raise ValueError("a {min,max} repetition is malformed or repeated")
            out.append(interval.group())
            index, is_quantifier = interval.end(), True
        else:
            out.append(_regex_char(pattern, index, quantified))
            is_quantifier = char in "*+?"
            index += 1
        quantified = is_quantifier
    return "".join(out)


def _regex_char(pattern: str, index: int, quantified: bool) -> str:
    char = pattern[index]
    if char in _REFUSED:
        raise ValueError(f"{char!r} means different things to Lucene and Java")
    if char in "*+" and quantified:
        raise ValueError(f"{char!r} right after another repetition")
    if char == "(" and pattern.startswith("?", index + 1):
        raise ValueError("'(?' is no Lucene syntax")
    if char in ".|()*+?":
        return char
    return re.escape(char)


def _char_class(pattern: str, start: int) -> tuple[str, int]:
    """Translate ``[...]`` at ``start``; return it and the index after it."""
    index = start + 1
    parts = ["["]
    if pattern.startswith("^", index):
        parts.append("^")
        index += 1
    first = index
    while index < len(pattern) and (pattern[index] != "]" or index == first):
        char = pattern[index]
        if char == "]":
            raise ValueError("a character class is empty")
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            parts.append(
                "\\" + escaped if escaped in _SHORTHANDS else re.escape(escaped)
            )
            index += 2
            continue
        parts.append(char if char.isalnum() or char == "-" else re.escape(char))
        index += 1
    if index >= len(pattern):
        raise ValueError("a character class is not closed")
    parts.append("]")
    return "".join(parts), index + 1


# --- function calls and values -----------------------------------------------


def _call_condition(expr: Call) -> Predicate:
    bound = functions.bind(expr)
    if not bound.boolean:
        message = f"{bound.name}() returns a value, not a condition"
        raise rule_error(message, expr.pos)
    if bound.test is not None:
        return _any_value(bound.args[0], bound.test)
    rest = [fold(argument) for argument in bound.args[1:]]
    if all(isinstance(argument, Literal) for argument in rest):
        constants = tuple(a.value for a in rest if isinstance(a, Literal))
        apply = bound.apply

        def test(value: Any) -> bool:
            return _safe_apply(apply, (value, *constants)) is True

        return _any_value(bound.args[0], test)
    values = _call_values(bound)
    return lambda event: any(result is True for result in values(event))


def _safe_apply(apply: Callable[..., Any], arguments: Sequence[Any]) -> Any:
    """Call a function on values; an argument of a type it cannot take gives null."""
    try:
        return apply(*arguments)
    except (TypeError, ValueError, ArithmeticError):
        return None


def _compile_values(expr: Expr) -> Values:
    """Compile an expression to its values for an event; null is ``(None,)``."""
    expr = fold(expr)
    if isinstance(expr, Literal):
        constant = (expr.value,)
        return lambda event: constant
    if isinstance(expr, Field):
        name = expr.name
        return lambda event: event.fields.get(name) or _NULL
    if isinstance(expr, Arithmetic):
        name = functions.ARITHMETIC[expr.op]
        return _call_values(
            functions.bind(Call(name, (expr.left, expr.right), pos=expr.pos))
        )
    if isinstance(expr, Call):
        return _call_values(functions.bind(expr))
    predicate = _compile_bool(expr)
    return lambda event: _TRUE if predicate(event) else _FALSE


def _call_values(bound: functions.BoundCall) -> Values:
    getters = [_compile_values(argument) for argument in bound.args]
    apply = bound.apply
    if len(getters) == 1:
        (getter,) = getters
        return lambda event: [_safe_apply(apply, (value,)) for value in getter(event)]

    def values(event: Event) -> list[Any]:
        arguments = [getter(event) for getter in getters]
        return [_safe_apply(apply, combination) for combination in product(*arguments)]

    return values


# --- join keys ----------------------------------------------------------------


def _key_field(key: Expr) -> Field:
    if not isinstance(key, Field):
        raise rule_error("a join key must be a field", key.pos, unsupported=True)
    return key


def _single_key(name: str) -> KeyFunction:
    def key(event: Event) -> tuple[Any, ...] | None:
        values = event.fields.get(name)
        if not values:
            return None
        return (values[0] if len(values) == 1 else tuple(values),)

    return key
