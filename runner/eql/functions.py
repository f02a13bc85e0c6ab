"""The EQL function reference, evaluated as Elasticsearch evaluates it.

Each function follows
https://www.elastic.co/guide/en/elasticsearch/reference/current/eql-function-ref.html:
a null argument gives null (except where the reference says otherwise), string
functions are case-sensitive unless called with ``~``, positions count from 0.
Where Elasticsearch would fail the whole search (division by zero, a string
that is no number, an argument of the wrong type), the function returns null
instead, so one odd document never aborts an execution; a null result is false
in a condition.

:func:`bind` resolves a :class:`~runner.eql.ast.Call` once, at compile time:
it checks the name and the arity, prepares constant arguments (the CIDR blocks
of ``cidrMatch``) and returns a :class:`BoundCall` whose ``apply`` takes one
plain value per remaining argument.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any, TypeGuard

from runner.eql.ast import NOWHERE, Call, Expr, Literal, Position
from runner.eql.cidr import CidrSet
from runner.errors import RuleError, UnsupportedError

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX_PREFIX = re.compile(r"([+-]?)0[xX]")


def java_string(value: object) -> str | None:
    """Return ``value`` as Java's ``toString`` writes it, None for null.

    Elasticsearch turns numbers and booleans into strings this way (the
    ``string`` and ``concat`` functions, a number compared with a keyword):
    ``true``, ``42``, ``42.5``, ``1.0E20``.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _java_double(value)
    return None


def _java_double(number: float) -> str:
    """Format a double as ``Double.toString``: decimal in [1e-3, 1e7), else ``E``."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "-0.0" if math.copysign(1.0, number) < 0 else "0.0"
    if 1e-3 <= abs(number) < 1e7:
        # Python's shortest repr is plain decimal throughout this range.
        return repr(number)
    sign, digits, exponent = Decimal(repr(number)).as_tuple()
    if not isinstance(exponent, int):
        return repr(number)
    mantissa = "".join(map(str, digits))
    power = exponent + len(mantissa) - 1
    fraction = mantissa[1:].rstrip("0") or "0"
    return f"{'-' if sign else ''}{mantissa[0]}.{fraction}E{power}"


def parse_number(text: str) -> int | float | None:
    """Return the integer or decimal ``text`` spells, or None.

    Accepts what Java's ``Long.parseLong`` then ``Double.parseDouble`` accept
    for plain decimal text; no underscores, no ``inf``.
    """
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    return None


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# --- arithmetic -------------------------------------------------------------


def add(left: object, right: object) -> int | float | None:
    """Return ``left + right``; null for null or non-numeric arguments."""
    if _is_number(left) and _is_number(right):
        return left + right
    return None


def subtract(left: object, right: object) -> int | float | None:
    """Return ``left - right``; null for null or non-numeric arguments."""
    if _is_number(left) and _is_number(right):
        return left - right
    return None


def multiply(left: object, right: object) -> int | float | None:
    """Return ``left * right``; null for null or non-numeric arguments."""
    if _is_number(left) and _is_number(right):
        return left * right
    return None


def divide(left: object, right: object) -> int | float | None:
    """Return ``left / right``, truncated toward zero when both are integers.

    Java integer division truncates (``divide(-7, 2)`` is -3). A zero divisor
    fails the search in Elasticsearch; here it gives null.
    """
    if not (_is_number(left) and _is_number(right)) or right == 0:
        return None
    if isinstance(left, int) and isinstance(right, int):
        quotient = abs(left) // abs(right)
        return quotient if (left < 0) == (right < 0) else -quotient
    return left / right


def modulo(left: object, right: object) -> int | float | None:
    """Return the remainder of ``left / right`` with the sign of ``left`` (Java's %).

    ``modulo(10, -6)`` is 4 and ``modulo(-10, -6)`` is -4; a zero divisor
    gives null.
    """
    if not (_is_number(left) and _is_number(right)) or right == 0:
        return None
    if isinstance(left, int) and isinstance(right, int):
        remainder = abs(left) % abs(right)
        return remainder if left >= 0 else -remainder
    return math.fmod(left, right)


# --- strings ----------------------------------------------------------------


def between(
    source: object,
    left: object,
    right: object,
    greedy: object = False,
    *,
    insensitive: bool,
) -> str | None:
    """Return the text of ``source`` between ``left`` and ``right``.

    An empty ``source``, ``left`` or ``right`` returns ``source`` unchanged; a
    bound that is not found returns ``""``. ``greedy`` takes the last
    ``right`` instead of the first one after ``left``.
    """
    if not (
        isinstance(source, str)
        and isinstance(left, str)
        and isinstance(right, str)
        and isinstance(greedy, bool)
    ):
        return None
    if not (source and left and right):
        return source
    haystack = source.lower() if insensitive else source
    if insensitive:
        left, right = left.lower(), right.lower()
    found = haystack.find(left)
    if found < 0:
        return ""
    start = found + len(left)
    end = haystack.rfind(right) if greedy else haystack.find(right, start)
    if end < 0:
        return ""
    return source[start:end]


def concat(*values: object) -> str | None:
    """Return the values joined as strings; null when any of them is null."""
    parts = []
    for value in values:
        part = java_string(value)
        if part is None:
            return None
        parts.append(part)
    return "".join(parts)


def ends_with(source: object, suffix: object, *, insensitive: bool) -> bool | None:
    """Return True when ``source`` ends with ``suffix``."""
    if not (isinstance(source, str) and isinstance(suffix, str)):
        return None
    if insensitive:
        return source.lower().endswith(suffix.lower())
    return source.endswith(suffix)


def index_of(
    source: object, substring: object, start: object = 0, *, insensitive: bool
) -> int | None:
    """Return the first position of ``substring`` at or after ``start``, or null.

    A negative ``start`` counts as 0; a ``start`` past the end, a null one, or
    a substring not found gives null.
    """
    if not (isinstance(source, str) and isinstance(substring, str)):
        return None
    if not _is_integer(start):
        return None
    start = max(start, 0)
    if start > len(source):
        return None
    if insensitive:
        source, substring = source.lower(), substring.lower()
    found = source.find(substring, start)
    return None if found < 0 else found


def length(value: object) -> int | None:
    """Return the length of a string in UTF-16 code units, as Java counts it."""
    if not isinstance(value, str):
        return None
    if value.isascii():
        return len(value)
    return len(value.encode("utf-16-le")) // 2


def number(text: object, base: object = None) -> int | float | None:
    """Return the integer or float a string spells, in ``base`` (default 10).

    ``0x`` marks hexadecimal whatever the base; surrounding whitespace is
    ignored; a string that is no number gives null.
    """
    if not isinstance(text, str) or not (base is None or _is_integer(base)):
        return None
    stripped = text.strip()
    hexadecimal = _HEX_PREFIX.match(stripped)
    if hexadecimal:
        stripped = hexadecimal.group(1) + stripped[hexadecimal.end() :]
        base = 16
    if base is None or base == 10:
        return parse_number(stripped)
    digits = stripped.lstrip("+-")
    if not digits or not digits.isalnum() or not digits.isascii():
        return None
    try:
        return int(stripped, base)
    except ValueError:
        return None


def starts_with(source: object, prefix: object, *, insensitive: bool) -> bool | None:
    """Return True when ``source`` starts with ``prefix``."""
    if not (isinstance(source, str) and isinstance(prefix, str)):
        return None
    if insensitive:
        return source.lower().startswith(prefix.lower())
    return source.startswith(prefix)


def string(value: object) -> str | None:
    """Return ``value`` as a string (``true``, ``42``, ``42.5``); null for null."""
    return java_string(value)


def string_contains(
    source: object, substring: object, *, insensitive: bool
) -> bool | None:
    """Return True when ``source`` contains ``substring``; False if either is empty."""
    if not (isinstance(source, str) and isinstance(substring, str)):
        return None
    if not (source and substring):
        return False
    if insensitive:
        return substring.lower() in source.lower()
    return substring in source


def substring(source: object, start: object, end: object = None) -> str | None:
    """Return ``source[start:end]``: Python slice semantics, negatives count back."""
    if not (isinstance(source, str) and _is_integer(start)):
        return None
    if end is None:
        return source[start:]
    return source[start:end] if _is_integer(end) else None


# --- registry ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One function of the reference.

    Attributes:
        name: The name as the reference spells it (``startsWith``).
        min_args: The fewest arguments it takes.
        max_args: The most arguments it takes, None for no limit.
        boolean: True when it returns a boolean, so it can be a condition.
        insensitive: True when it has a ``~`` form (``startsWith~``).
        impl: The implementation; with ``insensitive``, it takes the keyword
            argument of that name.
    """

    name: str
    min_args: int
    max_args: int | None
    boolean: bool
    insensitive: bool
    impl: Callable[..., Any]


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name.lower(): spec
    for spec in (
        FunctionSpec("add", 2, 2, False, False, add),
        FunctionSpec("between", 3, 4, False, True, between),
        FunctionSpec("cidrMatch", 2, None, True, False, lambda *_: None),
        FunctionSpec("concat", 1, None, False, False, concat),
        FunctionSpec("divide", 2, 2, False, False, divide),
        FunctionSpec("endsWith", 2, 2, True, True, ends_with),
        FunctionSpec("indexOf", 2, 3, False, True, index_of),
        FunctionSpec("length", 1, 1, False, False, length),
        FunctionSpec("modulo", 2, 2, False, False, modulo),
        FunctionSpec("multiply", 2, 2, False, False, multiply),
        FunctionSpec("number", 1, 2, False, False, number),
        FunctionSpec("startsWith", 2, 2, True, True, starts_with),
        FunctionSpec("string", 1, 1, False, False, string),
        FunctionSpec("stringContains", 2, 2, True, True, string_contains),
        FunctionSpec("substring", 2, 3, False, False, substring),
        FunctionSpec("subtract", 2, 2, False, False, subtract),
    )
}
"""The functions Elasticsearch's EQL knows, by lower-case name."""

ARITHMETIC = {
    "+": "add",
    "-": "subtract",
    "*": "multiply",
    "/": "divide",
    "%": "modulo",
}
"""The function each arithmetic operator evaluates as."""


@dataclass(frozen=True, slots=True)
class BoundCall:
    """A call resolved at compile time.

    Attributes:
        name: The function's reference name, for messages and plans.
        args: The argument expressions to evaluate per event; one value of
            each is passed to ``apply``.
        apply: The function over plain values; returns None for null.
        boolean: True when the result is a boolean.
        test: For a one-argument boolean call (``cidrMatch`` with its blocks
            bound), a truth test over one value, never raising; else None.
    """

    name: str
    args: tuple[Expr, ...]
    apply: Callable[..., Any]
    boolean: bool
    test: Callable[[Any], bool] | None = None


def rule_error(message: str, pos: Position, *, unsupported: bool = False) -> RuleError:
    """Return a :class:`RuleError` (or :class:`UnsupportedError`) located at ``pos``."""
    line, column = (None, None) if pos == NOWHERE else (pos.line, pos.column)
    kind = UnsupportedError if unsupported else RuleError
    return kind(message, line=line, column=column)


def display_name(name: str) -> str:
    """Return the reference spelling of a function name (``cidrMatch``)."""
    spec = FUNCTIONS.get(name.lower())
    return name if spec is None else spec.name


def resolve(call: Call) -> FunctionSpec:
    """Return the function a call names, after checking its form and arity.

    Raises:
        RuleError: The function is unknown, has no ``~`` form, or gets too
            few or too many arguments; located at the call.
    """
    spec = FUNCTIONS.get(call.name.lower())
    if spec is None:
        raise rule_error(f"unknown function {call.name}()", call.pos)
    if call.insensitive and not spec.insensitive:
        raise rule_error(f"function {spec.name} has no case-insensitive form", call.pos)
    count = len(call.args)
    if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
        raise rule_error(f"function {spec.name} {_arity(spec)}, got {count}", call.pos)
    return spec


def _arity(spec: FunctionSpec) -> str:
    if spec.max_args is None:
        return f"takes at least {spec.min_args} arguments"
    if spec.min_args == spec.max_args:
        return f"takes {spec.min_args} arguments"
    return f"takes {spec.min_args} to {spec.max_args} arguments"


def bind(call: Call) -> BoundCall:
    """Resolve a call once: check it and bind its constant arguments.

    Raises:
        RuleError: See :func:`resolve`; also a CIDR block that does not parse.
        UnsupportedError: An argument Elasticsearch requires to be a constant
            (CIDR blocks, ``between``'s greedy flag, ``number``'s base) is not.
    """
    spec = resolve(call)
    if spec.name == "cidrMatch":
        return _bind_cidr_match(call)
    if spec.name == "between" and len(call.args) == 4:
        _require_constant(call, 3, (bool,))
    if spec.name == "number" and len(call.args) == 2:
        _require_constant(call, 1, (int, type(None)))
    impl = spec.impl
    if spec.insensitive:
        impl = partial(impl, insensitive=call.insensitive)
    return BoundCall(spec.name, call.args, impl, spec.boolean)


def _require_constant(call: Call, index: int, kinds: tuple[type, ...]) -> Any:
    """Return the value of a constant argument, or raise naming the call."""
    argument = call.args[index]
    if isinstance(argument, Literal) and type(argument.value) in kinds:
        return argument.value
    names = " or ".join(
        "null" if kind is type(None) else kind.__name__ for kind in kinds
    )
    message = (
        f"argument {index + 1} of {display_name(call.name)} must be a constant {names}"
    )
    raise rule_error(message, argument.pos, unsupported=True)


def _bind_cidr_match(call: Call) -> BoundCall:
    blocks: list[str] = []
    for index, argument in enumerate(call.args[1:], start=1):
        if isinstance(argument, Literal) and argument.value is None:
            # A null block makes every result null, which is false in a condition.
            return BoundCall("cidrMatch", call.args[:1], _null, True, _never)
        blocks.append(_require_constant(call, index, (str,)))
    try:
        cidrs = CidrSet(blocks)
    except ValueError as exc:
        raise rule_error(f"cidrMatch: {exc}", call.pos) from exc

    def apply(address: Any) -> bool | None:
        return None if address is None else cidrs.contains(address)

    return BoundCall("cidrMatch", call.args[:1], apply, True, cidrs.contains)


def _null(*_: Any) -> None:
    return None


def _never(_: Any) -> bool:
    return False
