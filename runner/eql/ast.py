"""The EQL syntax tree produced by :mod:`runner.eql.parser`.

Nodes are frozen dataclasses. Every node carries the position of its first
character in the query text (1-based line and column), so that compile errors
can point at the construct they refuse.

Expressions::

    Literal      "a string", 1, 1.5, true, null
    Field        process.name, ?process.name (optional)
    Not          not <expr>
    BoolOp       <expr> and <expr> and ... / <expr> or <expr> ...
    Comparison   ==  !=  <  <=  >  >=
    Match        <expr> : "pattern" / <expr> : ("a*", "b?")   (case-insensitive)
    InSet        <expr> in (...) / in~ (...)
    Like         <expr> like "a*" / like~ ("a*", "b*")
    Regex        <expr> regex "a.*" / regex~ (...)
    Call         cidrMatch(destination.ip, "10.0.0.0/8") / startsWith~(a, "b")
    Arithmetic   + - * / %  and unary minus

Queries::

    EventQuery   process where <expr> / any where <expr>
    Sequence     sequence [by keys] [with maxspan=1m] [stage]... [until [stage]]
    Stage        [<event query>] [by keys] [with runs=N]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column in the query text."""

    line: int
    column: int


NOWHERE = Position(0, 0)


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant: string, integer, float, boolean or null (``None``)."""

    value: str | int | float | bool | None
    pos: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Field:
    """A reference to a document field by its dotted ECS name.

    ``optional`` is set for ``?field``: a missing optional field reads as null
    instead of excluding the event from a join.
    """

    name: str
    optional: bool = False
    pos: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    """Logical negation."""

    operand: Expr
    pos: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class BoolOp:
    """``and`` or ``or`` over two or more operands, flattened."""

    op: str
    operands: tuple[Expr, ...]
    pos: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Comparison:
    """A comparison: ``op`` is one of ``== != < <= > >=``."""

    op: str
    left: Expr
    right: Expr
    pos: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Match:
    """``left : pattern`` or ``left : (p1, p2)``: case-insensitive, ``*``/``?``."""

    left: Expr
    patterns: tuple[Expr, ...]
    pos: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class InSet:
    """``left in (v1, v2)``; ``insensitive`` for ``in~``."""

    left: Expr
    values: tuple[Expr, ...]
    insensitive: bool = False
    pos: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Like:
    """``left like "p*"``; ``insensitive`` for ``like~``."""

    left: Expr
    patterns: tuple[Expr, ...]
    insensitive: bool = False
    pos: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Regex:
    """``left regex "p.*"``; ``insensitive`` for ``regex~``."""

    left: Expr
    patterns: tuple[Expr, ...]
    insensitive: bool = False
    pos: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    """A function call. ``name`` is lower-cased; ``insensitive`` for ``name~``."""

    name: str
    args: tuple[Expr, ...]
    insensitive: bool = False
    pos: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Arithmetic:
    """``left op right`` with ``op`` in ``+ - * / %``; unary minus is ``0 - x``."""

    op: str
    left: Expr
    right: Expr
    pos: Position = field(default=NOWHERE, compare=False)


Expr: TypeAlias = (
    Literal
    | Field
    | Not
    | BoolOp
    | Comparison
    | Match
    | InSet
    | Like
    | Regex
    | Call
    | Arithmetic
)


@dataclass(frozen=True, slots=True)
class EventQuery:
    """``<category> where <condition>``; ``category`` is None for ``any``."""

    category: str | None
    condition: Expr
    pos: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Stage:
    """One bracketed stage of a sequence, with its own join keys and runs."""

    query: EventQuery
    by: tuple[Expr, ...] = ()
    runs: int = 1
    pos: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Sequence:
    """A sequence query.

    ``by`` holds the keys shared by every stage; each stage may add its own
    (``Stage.by``), and the join key of a stage is ``by + stage.by``.
    ``maxspan_ms`` is None when the query sets no maxspan.
    """

    stages: tuple[Stage, ...]
    by: tuple[Expr, ...] = ()
    maxspan_ms: int | None = None
    until: Stage | None = None
    pos: Position = field(default=NOWHERE, compare=False)


Query: TypeAlias = EventQuery | Sequence
