"""Parse EQL query text into the syntax tree of :mod:`runner.eql.ast`.

The grammar (``grammar.lark``) follows the language Elasticsearch's EQL
endpoint accepts. Failures leave this module located by line and column in
the query text:

* :class:`~runner.errors.RuleError` for text Elasticsearch would reject
  (a syntax error, ``=`` instead of ``==``, a single-quoted string, an
  unknown time unit...);
* :class:`~runner.errors.UnsupportedError` for valid EQL the runner refuses
  (``sample``, ``join``, missing-event stages ``![...]``, pipes).

Callers place the positions in their file with :meth:`RuleError.at`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

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
    Position,
    Query,
    Regex,
    Sequence,
    Stage,
)
from runner.errors import RuleError, UnsupportedError

__all__ = ["parse_query"]

_TIME_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# Elasticsearch caps `with runs=N`; a larger N is a query error there.
_MAX_RUNS = 100
_MAX_LONG = 2**63 - 1


def parse_query(text: str) -> Query:
    """Parse one EQL query.

    Args:
        text: The query, as written in a rule's ``query``.

    Returns:
        An :class:`~runner.eql.ast.EventQuery` or a
        :class:`~runner.eql.ast.Sequence`; every node carries the position
        of its first character.

    Raises:
        UnsupportedError: The query uses EQL the runner does not evaluate.
        RuleError: The query is not valid EQL.
    """
    try:
        # With a transformer the parser returns what `start` built, not the
        # parse tree its annotation promises.
        query = cast(Query, _LARK.parse(text))
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text) from exc
    return query


# --- Syntax errors ----------------------------------------------------------

_TERMINAL_NAMES = {
    "NAME": "a field name",
    "ESCAPED_NAME": "a field name",
    "TILDE_NAME": "a function name",
    "STRING": "a string",
    "TRIPLE_STRING": "a string",
    "RAW_STRING": "a string",
    "SINGLE_QUOTED": "a string",
    "INT": "a number",
    "DECIMAL": "a number",
    "COMPARE": "a comparison operator",
    "ADD_OP": "an arithmetic operator",
    "MUL_OP": "an arithmetic operator",
    "LIKE_OP": "`like`",
    "REGEX_OP": "`regex`",
    "$END": "end of query",
}

# When all of these may come next, the parser wants an expression: say so
# instead of listing every kind of value.
_EXPRESSION_START = {"NAME", "STRING", "INT"}
_VALUE_TERMINALS = {
    "NAME",
    "ESCAPED_NAME",
    "TILDE_NAME",
    "STRING",
    "TRIPLE_STRING",
    "RAW_STRING",
    "SINGLE_QUOTED",
    "INT",
    "DECIMAL",
    "OPTIONAL",
    "LPAR",
    "ADD_OP",
    "NOT",
    "TRUE",
    "FALSE",
    "NULL",
}


_FOUND_WIDTH = 30


def _syntax_error(exc: UnexpectedInput, text: str) -> RuleError:
    """Turn a lark error into a RuleError saying what was found and expected."""
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        line, column = _end_position(text)
        found = "end of query"
    else:
        line, column = exc.line, exc.column
        found = _describe_found(exc, text)

    offset = _offset(text, line, column)
    special = _special_message(text[offset:])
    if special is not None:
        return RuleError(special, line=line, column=column)

    if isinstance(exc, UnexpectedCharacters):
        # The lexer's list of what it could have matched covers more than the
        # grammar accepts here; naming the character is the honest part.
        return RuleError(f"unexpected character {found}", line=line, column=column)
    expected = _describe_expected(_expected_terminals(exc))
    message = f"unexpected {found}"
    if expected:
        message += f"; expected {expected}"
    return RuleError(message, line=line, column=column)


def _special_message(rest: str) -> str | None:
    """Return a targeted message for mistakes people coming from SQL make."""
    if rest.startswith("=") and not rest.startswith("=="):
        return (
            "`=` is not an EQL comparison: use `==` (case-sensitive) "
            "or `:` (case-insensitive)"
        )
    if rest.startswith('"') and not re.match(r'"(?:\\.|[^"\\\r\n])*"', rest):
        return "unterminated string: a string must close on the line it opens"
    if rest.startswith("`") and not re.match(r"`(?:[^`]|``)*`", rest):
        return "unterminated backquoted field name"
    return None


def _describe_found(exc: UnexpectedInput, text: str) -> str:
    if isinstance(exc, UnexpectedToken):
        value = str(exc.token.value)
        # A long string or a multi-line one is named by its beginning.
        short = value.split("\n")[0][:_FOUND_WIDTH]
        return f"`{short}`" if short == value else f"`{short}...`"
    if isinstance(exc, UnexpectedCharacters) and exc.pos_in_stream is not None:
        return f"`{text[exc.pos_in_stream]}`"
    return "input"


def _expected_terminals(exc: UnexpectedInput) -> set[str]:
    if not isinstance(exc, UnexpectedToken):
        return set()
    # LALR merges states, so `expected` over-approximates; asking the parser
    # which tokens it really accepts here gives an honest list. Probing runs
    # the AST callbacks, which may refuse what they see.
    try:
        accepts: set[str] = exc.interactive_parser.accepts()  # type: ignore[no-untyped-call]
    except RuleError:
        return set(exc.expected)
    return accepts


def _describe_expected(names: set[str]) -> str:
    descriptions: list[str] = []
    if names >= _EXPRESSION_START:
        names = names - _VALUE_TERMINALS
        descriptions.append("an expression")
    descriptions += sorted({_describe_terminal(name) for name in names})
    if len(descriptions) <= 1:
        return "".join(descriptions)
    return "one of " + ", ".join(descriptions)


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    pattern = _LARK.get_terminal(name).pattern
    if isinstance(pattern, PatternStr):
        return f"`{pattern.value}`"
    return name.lower()


def _end_position(text: str) -> tuple[int, int]:
    """Return the position just after the last character of the query."""
    body = text.rstrip()
    lines = body.split("\n")
    return len(lines), len(lines[-1]) + 1


def _offset(text: str, line: int, column: int) -> int:
    """Return the index in ``text`` of a 1-based line and column."""
    lines = text.split("\n")
    return sum(len(each) + 1 for each in lines[: line - 1]) + column - 1


# --- Building the AST --------------------------------------------------------
#
# The builder runs inside the LALR parser: each callback receives the already
# built children of one rule (AST nodes, tuples, and the named tokens the
# grammar keeps) and returns its node. A node's position is that of its first
# child.


@dataclass(frozen=True, slots=True)
class _Params:
    by: tuple[Expr, ...] = ()
    maxspan_ms: int | None = None


@dataclass(frozen=True, slots=True)
class _Until:
    stage: Stage


@dataclass(frozen=True, slots=True)
class _Category:
    name: str | None
    pos: Position


def _pos(child: Any) -> Position:
    """Return the position of a token, an AST node or the first of a tuple."""
    if isinstance(child, Token):
        return Position(child.line or 0, child.column or 0)
    if isinstance(child, tuple):
        return _pos(child[0])
    pos: Position = child.pos
    return pos


def _nodes(children: list[Any]) -> list[Any]:
    """Drop the keyword and operator tokens among a rule's children."""
    return [child for child in children if not isinstance(child, Token)]


def _refuse(what: str, token: Token) -> UnsupportedError:
    return UnsupportedError(
        f"{what} are not supported", line=token.line, column=token.column
    )


class _AstBuilder(Transformer[Token, Query]):
    """Build AST nodes from the children of each rule the parser reduces."""

    # Queries and refusals.

    def start(self, children: list[Any]) -> Query:
        query: Query = children[0]
        return query

    def pipe(self, children: list[Any]) -> None:
        raise _refuse(f"`| {children[1]}` pipes", children[0])

    def sample(self, children: list[Any]) -> None:
        raise _refuse("`sample` queries", children[0])

    def join(self, children: list[Any]) -> None:
        raise _refuse("`join` queries", children[0])

    def missing_stage(self, children: list[Any]) -> None:
        raise _refuse("missing-event stages (`![ ... ]`)", children[0])

    def event_query(self, children: list[Any]) -> EventQuery:
        category: _Category = children[0]
        return EventQuery(category.name, children[1], category.pos)

    def any_category(self, children: list[Token]) -> _Category:
        return _Category(None, _pos(children[0]))

    def named_category(self, children: list[Token]) -> _Category:
        return _Category(str(children[0]), _pos(children[0]))

    def quoted_category(self, children: list[Token]) -> _Category:
        return _Category(_unescape(children[0]), _pos(children[0]))

    # Sequences.

    def sequence(self, children: list[Any]) -> Sequence:
        params: _Params = children[1]
        stages = tuple(child for child in children if isinstance(child, Stage))
        until = next((c.stage for c in children if isinstance(c, _Until)), None)
        pos = _pos(children[0])
        _check_stage_count(stages, pos)
        _check_key_counts(stages, until)
        return Sequence(stages, params.by, params.maxspan_ms, until, pos)

    def no_params(self, children: list[Any]) -> _Params:
        return _Params()

    def keys_only(self, children: list[Any]) -> _Params:
        return _Params(by=children[0])

    def keys_then_maxspan(self, children: list[Any]) -> _Params:
        return _Params(by=children[0], maxspan_ms=children[1])

    def maxspan_only(self, children: list[Any]) -> _Params:
        return _Params(maxspan_ms=children[0])

    def maxspan_then_keys(self, children: list[Any]) -> _Params:
        first = _pos(children[1])
        raise RuleError(
            "put `by` before `with maxspan`: "
            "Elasticsearch rejects `sequence with maxspan=... by ...`",
            line=first.line,
            column=first.column,
        )

    def maxspan(self, children: list[Any]) -> int:
        unit: Token | None = children[1] if len(children) > 1 else None
        return _maxspan_ms(children[0], unit)

    def stage(self, children: list[Any]) -> Stage:
        by: tuple[Expr, ...] = ()
        runs = 1
        for child in children[2:]:
            if isinstance(child, tuple):
                by = child
            else:
                runs = child
        return Stage(children[1], by, runs, _pos(children[0]))

    def runs(self, children: list[Any]) -> int:
        return _runs(children[0], children[1])

    def until(self, children: list[Any]) -> _Until:
        return _Until(children[0])

    def join_keys(self, children: list[Any]) -> tuple[Expr, ...]:
        return tuple(children)

    # Boolean logic, comparisons and arithmetic.

    def or_expr(self, children: list[Any]) -> BoolOp:
        return _bool_op("or", children)

    def and_expr(self, children: list[Any]) -> BoolOp:
        return _bool_op("and", children)

    def not_(self, children: list[Any]) -> Not:
        return Not(children[1], _pos(children[0]))

    def comparison(self, children: list[Any]) -> Comparison:
        left, op, right = children
        return Comparison(str(op), left, right, _pos(left))

    def arithmetic(self, children: list[Any]) -> Arithmetic:
        left, op, right = children
        return Arithmetic(str(op), left, right, _pos(left))

    def unary(self, children: list[Any]) -> Expr:
        op: Token = children[0]
        operand: Expr = children[1]
        if op == "+":
            return operand
        pos = _pos(op)
        # A negative number stays a literal so that `x == -1` compiles to a
        # plain term query.
        if isinstance(operand, Literal):
            value = operand.value
            if isinstance(value, int | float) and not isinstance(value, bool):
                return Literal(-value, pos)
        return Arithmetic("-", Literal(0, pos), operand, pos)

    # Predicates.

    def in_set(self, children: list[Any]) -> InSet:
        left, values = _nodes(children)
        return InSet(left, values, False, _pos(left))

    def in_set_insensitive(self, children: list[Any]) -> InSet:
        left, values = _nodes(children)
        return InSet(left, values, True, _pos(left))

    def not_in_set(self, children: list[Any]) -> Not:
        inner = self.in_set(children)
        return Not(inner, inner.pos)

    def not_in_set_insensitive(self, children: list[Any]) -> Not:
        inner = self.in_set_insensitive(children)
        return Not(inner, inner.pos)

    def match(self, children: list[Any]) -> Match:
        left, patterns = children
        return Match(left, patterns, _pos(left))

    def like(self, children: list[Any]) -> Like:
        left, op, patterns = children
        return Like(left, patterns, op.endswith("~"), _pos(left))

    def regex(self, children: list[Any]) -> Regex:
        left, op, patterns = children
        return Regex(left, patterns, op.endswith("~"), _pos(left))

    def patterns(self, children: list[Any]) -> tuple[Expr, ...]:
        return tuple(children)

    def expr_list(self, children: list[Any]) -> tuple[Expr, ...]:
        return tuple(children)

    # Primaries.

    def paren(self, children: list[Any]) -> Expr:
        # The parenthesised expression starts at its `(`.
        inner: Expr = children[1]
        return dataclasses.replace(inner, pos=_pos(children[0]))

    def call(self, children: list[Any]) -> Call:
        name: Token = children[0]
        args: tuple[Expr, ...] = children[1] if len(children) > 1 else ()
        insensitive = name.endswith("~")
        return Call(name.rstrip("~").lower(), args, insensitive, _pos(name))

    def field(self, children: list[Token]) -> Field:
        optional = children[0].type == "OPTIONAL"
        segments = children[1:] if optional else children
        return Field(".".join(segments), optional, _pos(children[0]))

    def segment(self, children: list[Token]) -> Token:
        token = children[0]
        if token.type == "ESCAPED_NAME":
            return token.update(value=token[1:-1].replace("``", "`"))
        return token

    def constant(self, children: list[Any]) -> Literal:
        literal: Literal = children[0]
        return literal

    def string(self, children: list[Token]) -> Literal:
        return Literal(_unescape(children[0]), _pos(children[0]))

    def triple_string(self, children: list[Token]) -> Literal:
        return Literal(children[0][3:-3], _pos(children[0]))

    def raw_string(self, children: list[Token]) -> Literal:
        return Literal(children[0][2:-1], _pos(children[0]))

    def single_quoted(self, children: list[Token]) -> Literal:
        raise RuleError(
            "single-quoted strings are not EQL: use double quotes",
            line=children[0].line,
            column=children[0].column,
        )

    def integer(self, children: list[Token]) -> Literal:
        token = children[0]
        if int(token) > _MAX_LONG:
            raise RuleError(
                f"number {token} is too large", line=token.line, column=token.column
            )
        return Literal(int(token), _pos(token))

    def decimal(self, children: list[Token]) -> Literal:
        return Literal(float(children[0]), _pos(children[0]))

    def true(self, children: list[Token]) -> Literal:
        return Literal(True, _pos(children[0]))

    def false(self, children: list[Token]) -> Literal:
        return Literal(False, _pos(children[0]))

    def null(self, children: list[Token]) -> Literal:
        return Literal(None, _pos(children[0]))


def _runs(key: Token, value: Literal) -> int:
    """Return N of a stage's ``with runs=N``, refusing other options."""
    if key != "runs":
        raise RuleError(
            f"unknown stage option `{key}`: expected `runs`",
            line=key.line,
            column=key.column,
        )
    if not isinstance(value.value, int) or not 1 <= value.value <= _MAX_RUNS:
        raise RuleError(
            f"`runs` must be a whole number from 1 to {_MAX_RUNS}",
            line=value.pos.line,
            column=value.pos.column,
        )
    return value.value


def _bool_op(op: str, operands: list[Expr]) -> BoolOp:
    """Build one BoolOp, absorbing operands that are the same operator."""
    flat: list[Expr] = []
    for operand in operands:
        if isinstance(operand, BoolOp) and operand.op == op:
            flat.extend(operand.operands)
        else:
            flat.append(operand)
    return BoolOp(op, tuple(flat), _pos(operands[0]))


def _maxspan_ms(number: Literal, unit: Token | None) -> int:
    line, column = number.pos.line, number.pos.column
    if unit is None:
        raise RuleError(
            f"maxspan needs a time unit, as in `{number.value}s` "
            "(one of ms, s, m, h, d)",
            line=line,
            column=column,
        )
    if unit not in _TIME_UNITS_MS:
        raise RuleError(
            f"unknown time unit `{unit}` in maxspan: use one of ms, s, m, h, d",
            line=unit.line,
            column=unit.column,
        )
    if not isinstance(number.value, int) or number.value <= 0:
        raise RuleError(
            "maxspan must be a positive whole number", line=line, column=column
        )
    return number.value * _TIME_UNITS_MS[unit]


def _check_stage_count(stages: tuple[Stage, ...], pos: Position) -> None:
    """Refuse a sequence of fewer than two events, counting repeated runs."""
    if sum(stage.runs for stage in stages) < 2:
        raise RuleError(
            "a sequence needs at least two stages "
            "(or one stage `with runs=N`, N of 2 or more)",
            line=pos.line,
            column=pos.column,
        )


def _check_key_counts(stages: tuple[Stage, ...], until: Stage | None) -> None:
    """Refuse stages whose ``by`` lists differ in length, as Elasticsearch does."""
    expected = len(stages[0].by)
    for stage in (*stages[1:], *([until] if until else [])):
        if len(stage.by) != expected:
            raise RuleError(
                "inconsistent number of join keys: "
                f"expected {expected} but found {len(stage.by)}",
                line=stage.pos.line,
                column=stage.pos.column,
            )


# A backslash followed by `u{hex}` or by any one character.
_ESCAPE = re.compile(r"\\(u\{([0-9A-Fa-f]*)\}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "f": "\f",
    "r": "\r",
    '"': '"',
    "'": "'",
    "\\": "\\",
}


def _unescape(token: Token) -> str:
    """Return the value of a double-quoted string, escapes resolved."""
    body = token[1:-1]
    parts: list[str] = []
    done = 0
    for escape in _ESCAPE.finditer(body):
        parts.append(body[done : escape.start()])
        # The string holds no newline, so the escape is on the token's line;
        # +1 skips the opening quote.
        column = (token.column or 0) + 1 + escape.start()
        parts.append(_escape_value(escape, token.line or 0, column))
        done = escape.end()
    parts.append(body[done:])
    return "".join(parts)


def _escape_value(escape: re.Match[str], line: int, column: int) -> str:
    code = escape.group(2)
    if code is None:
        char = escape.group(1)
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        message = f"invalid escape sequence `\\{char}` in string"
        if char == "u":
            message += ": write a code point as `\\u{XXXX}`"
        else:
            message += ": write a backslash as `\\\\`"
        raise RuleError(message, line=line, column=column)
    value = int(code, 16) if 2 <= len(code) <= 8 else -1
    if not 0 <= value <= 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        raise RuleError(
            f"invalid unicode escape `{escape.group(0)}`: "
            "use 2 to 8 hex digits naming a code point, as in `\\u{202E}`",
            line=line,
            column=column,
        )
    return chr(value)


_GRAMMAR = resources.files("runner.eql").joinpath("grammar.lark").read_text("utf-8")
# Built once: compiling the LALR tables costs far more than a parse.
_LARK = Lark(_GRAMMAR, parser="lalr", transformer=_AstBuilder())
