"""Tests of the EQL parser: every construct, its AST, and every refusal."""

from __future__ import annotations

import pytest

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
    Regex,
    Sequence,
    Stage,
)
from runner.eql.parser import parse_query
from runner.errors import RuleError, UnsupportedError

DLLHOST_QUERY = """\
sequence by host.id, process.entity_id with maxspan=1m
  [process where host.os.type == "windows" and event.type == "start" and process.name : "dllhost.exe" and process.args_count == 1]
  [network where host.os.type == "windows" and process.name : "dllhost.exe" and
   not cidrmatch(destination.ip, "10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.0.0/29", "192.0.0.8/32", "192.0.0.9/32", "192.0.0.10/32", "192.0.0.170/32", "192.0.0.171/32", "192.0.2.0/24",
    "192.31.196.0/24", "192.52.193.0/24", "192.168.0.0/16", "192.88.99.0/24", "224.0.0.0/4", "100.64.0.0/10",
    "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "::1", "FE80::/10",
    "FF00::/8")]
"""  # noqa: E501 - the rule's query, verbatim


def condition(expression: str) -> Expr:
    """Parse ``any where <expression>`` and return the condition."""
    query = parse_query(f"any where {expression}")
    assert isinstance(query, EventQuery)
    return query.condition


def sequence(text: str) -> Sequence:
    query = parse_query(text)
    assert isinstance(query, Sequence)
    return query


def refusal(text: str) -> RuleError:
    with pytest.raises(RuleError) as info:
        parse_query(text)
    return info.value


def f(name: str, optional: bool = False) -> Field:
    return Field(name, optional)


def lit(value: str | int | float | bool | None) -> Literal:
    return Literal(value)


# --- Event queries ---------------------------------------------------------------


def test_parse_query_event_query_has_category_and_condition() -> None:
    """`<category> where <expr>` names the category and keeps the condition."""
    query = parse_query('process where process.name == "a"')
    assert query == EventQuery("process", Comparison("==", f("process.name"), lit("a")))


def test_parse_query_any_has_no_category() -> None:
    """`any where` is an event query without a category."""
    query = parse_query("any where true")
    assert query == EventQuery(None, lit(True))


def test_parse_query_quoted_category_is_unquoted() -> None:
    """A double-quoted category names the category inside the quotes."""
    query = parse_query('"process" where true')
    assert isinstance(query, EventQuery)
    assert query.category == "process"


def test_parse_query_keyword_is_a_field_segment_after_a_dot() -> None:
    """Keywords after a dot (`file.in`, `x.where`) are field name segments."""
    assert condition("file.in == x.where") == Comparison(
        "==", f("file.in"), f("x.where")
    )


# --- Sequences --------------------------------------------------------------------


def test_parse_query_sequence_has_shared_keys_maxspan_and_stages() -> None:
    """`sequence by a, b with maxspan=1m` keeps keys, maxspan and stages."""
    query = sequence(
        "sequence by a, b with maxspan=1m [process where x] [file where y]"
    )
    assert query.by == (f("a"), f("b"))
    assert query.maxspan_ms == 60_000
    assert query.stages == (
        Stage(EventQuery("process", f("x"))),
        Stage(EventQuery("file", f("y"))),
    )
    assert query.until is None


def test_parse_query_sequence_without_params_has_no_keys_or_maxspan() -> None:
    """A bare `sequence` has no shared keys and no maxspan."""
    query = sequence("sequence [a where x] [b where y]")
    assert query.by == ()
    assert query.maxspan_ms is None


def test_parse_query_sequence_maxspan_only() -> None:
    """`sequence with maxspan=5s` sets the maxspan without keys."""
    query = sequence("sequence with maxspan=5s [a where x] [b where y]")
    assert query.by == ()
    assert query.maxspan_ms == 5_000


@pytest.mark.parametrize(
    ("span", "milliseconds"),
    [
        ("250ms", 250),
        ("30s", 30_000),
        ("2m", 120_000),
        ("12h", 43_200_000),
        ("1d", 86_400_000),
        (" = 5s", 5_000),
    ],
)
def test_parse_query_maxspan_units(span: str, milliseconds: int) -> None:
    """maxspan accepts ms, s, m, h and d, with or without spaces around `=`."""
    text = f"sequence with maxspan{'' if span.startswith(' ') else '='}{span} "
    query = sequence(text + "[a where x] [b where y]")
    assert query.maxspan_ms == milliseconds


def test_parse_query_stage_keys_and_runs() -> None:
    """Stages keep their own `by` keys and `with runs=N`."""
    query = sequence(
        "sequence by h [a where x] by p with runs=3 [b where y] by q [c where z] by r"
    )
    assert query.stages[0] == Stage(EventQuery("a", f("x")), (f("p"),), 3)
    assert query.stages[1].by == (f("q"),)
    assert query.stages[1].runs == 1


def test_parse_query_runs_with_spaces() -> None:
    """`with runs = 5` (spaces, as in the corpus) is accepted."""
    query = sequence("sequence [a where x] with runs = 5")
    assert query.stages[0].runs == 5


def test_parse_query_single_stage_with_runs_is_a_sequence() -> None:
    """One stage repeated by `with runs=2` or more makes a valid sequence."""
    query = sequence("sequence by h with maxspan=1m [a where x] with runs=2")
    assert len(query.stages) == 1


def test_parse_query_until_stage() -> None:
    """`until [query] by keys` is kept apart from the stages."""
    query = sequence(
        "sequence [a where x] by p [b where y] by p until [c where z] by p"
    )
    assert query.until == Stage(EventQuery("c", f("z")), (f("p"),))
    assert len(query.stages) == 2


def test_parse_query_join_keys_may_be_optional_fields() -> None:
    """A join key may be `?field`."""
    query = sequence("sequence by ?user.id [a where x] [b where y]")
    assert query.by == (f("user.id", optional=True),)


def test_parse_query_dllhost_rule_shape() -> None:
    """The DllHost rule parses to two stages joined by host and process."""
    query = sequence(DLLHOST_QUERY)
    assert query.by == (f("host.id"), f("process.entity_id"))
    assert query.maxspan_ms == 60_000
    assert [stage.query.category for stage in query.stages] == ["process", "network"]
    start, network = (stage.query.condition for stage in query.stages)
    assert start == BoolOp(
        "and",
        (
            Comparison("==", f("host.os.type"), lit("windows")),
            Comparison("==", f("event.type"), lit("start")),
            Match(f("process.name"), (lit("dllhost.exe"),)),
            Comparison("==", f("process.args_count"), lit(1)),
        ),
    )
    assert isinstance(network, BoolOp)
    assert network.operands[:2] == (
        Comparison("==", f("host.os.type"), lit("windows")),
        Match(f("process.name"), (lit("dllhost.exe"),)),
    )
    exclusion = network.operands[2]
    assert isinstance(exclusion, Not)
    call = exclusion.operand
    assert isinstance(call, Call)
    assert call.name == "cidrmatch"
    assert call.args[0] == f("destination.ip")
    assert len(call.args[1:]) == 26
    assert call.args[1] == lit("10.0.0.0/8")
    assert call.args[-1] == lit("FF00::/8")


def test_parse_query_dllhost_rule_positions() -> None:
    """Nodes of the DllHost query carry the line and column they start at."""
    query = sequence(DLLHOST_QUERY)
    assert query.pos == Position(1, 1)
    assert query.stages[1].pos == Position(3, 3)
    assert query.stages[1].query.pos == Position(3, 4)
    network = query.stages[1].query.condition
    assert isinstance(network, BoolOp)
    assert network.operands[2].pos == Position(4, 4)
    assert query.by[1].pos == Position(1, 22)


# --- Boolean logic ----------------------------------------------------------------


def test_parse_query_not_binds_tighter_than_and_than_or() -> None:
    """`not a and b or c` is `((not a) and b) or c`."""
    assert condition("not a and b or c") == BoolOp(
        "or", (BoolOp("and", (Not(f("a")), f("b"))), f("c"))
    )


def test_parse_query_and_binds_tighter_than_or() -> None:
    """`a or b and c` is `a or (b and c)`."""
    assert condition("a or b and c") == BoolOp(
        "or", (f("a"), BoolOp("and", (f("b"), f("c"))))
    )


def test_parse_query_parentheses_group() -> None:
    """Parentheses override precedence."""
    assert condition("(a or b) and c") == BoolOp(
        "and", (BoolOp("or", (f("a"), f("b"))), f("c"))
    )


def test_parse_query_same_operator_chains_flatten() -> None:
    """Chains of one operator, parenthesised or not, become one BoolOp."""
    assert condition("a and (b and c) and d") == BoolOp(
        "and", (f("a"), f("b"), f("c"), f("d"))
    )
    assert condition("(a or b) or c") == BoolOp("or", (f("a"), f("b"), f("c")))


def test_parse_query_not_applies_to_a_comparison() -> None:
    """`not a == 1` negates the comparison."""
    assert condition("not a == 1") == Not(Comparison("==", f("a"), lit(1)))


def test_parse_query_parenthesised_node_starts_at_its_parenthesis() -> None:
    """A parenthesised expression's position is its opening parenthesis."""
    expression = condition("(a or b) and c")
    assert isinstance(expression, BoolOp)
    assert expression.pos == Position(1, 11)
    assert expression.operands[0].pos == Position(1, 11)


# --- Comparisons and predicates ---------------------------------------------------


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_parse_query_comparison_operators(op: str) -> None:
    """Every comparison operator builds a Comparison."""
    assert condition(f"a {op} 1") == Comparison(op, f("a"), lit(1))


def test_parse_query_single_equals_is_refused_with_a_hint() -> None:
    """A single `=` is refused at its position, suggesting `==` or `:`."""
    error = refusal("process where a = 1")
    assert (error.line, error.column) == (1, 17)
    assert "`==`" in error.message
    assert not isinstance(error, UnsupportedError)


def test_parse_query_comparisons_do_not_chain() -> None:
    """`a == b == c` is a syntax error at the second `==`."""
    error = refusal("any where a == b == c")
    assert (error.line, error.column) == (1, 18)


def test_parse_query_colon_single_and_list() -> None:
    """`:` takes one pattern or a parenthesised list."""
    assert condition('a : "x*"') == Match(f("a"), (lit("x*"),))
    assert condition('a : ("x", "y?")') == Match(f("a"), (lit("x"), lit("y?")))


def test_parse_query_in_and_in_insensitive() -> None:
    """`in (...)` and `in~ (...)` build InSet."""
    assert condition('a in ("x", 1)') == InSet(f("a"), (lit("x"), lit(1)))
    assert condition('a in~ ("x")') == InSet(f("a"), (lit("x"),), insensitive=True)


def test_parse_query_not_in_is_negated_in() -> None:
    """`a not in (...)` is Not(InSet), also for `not in~`."""
    assert condition('a not in ("x")') == Not(InSet(f("a"), (lit("x"),)))
    assert condition('a not in~ ("x")') == Not(
        InSet(f("a"), (lit("x"),), insensitive=True)
    )


def test_parse_query_in_takes_expressions() -> None:
    """`in` lists may hold fields and expressions."""
    assert condition("a in (b, c + 1)") == InSet(
        f("a"), (f("b"), Arithmetic("+", f("c"), lit(1)))
    )


def test_parse_query_like_and_like_insensitive() -> None:
    """`like` and `like~` take one pattern or a list."""
    assert condition('a like "x*"') == Like(f("a"), (lit("x*"),))
    assert condition('a like~ ("x*", "y")') == Like(
        f("a"), (lit("x*"), lit("y")), insensitive=True
    )


def test_parse_query_regex_and_regex_insensitive() -> None:
    """`regex` and `regex~` take one pattern or a list."""
    assert condition('a regex "x.*"') == Regex(f("a"), (lit("x.*"),))
    assert condition('a regex~ ("x", "y")') == Regex(
        f("a"), (lit("x"), lit("y")), insensitive=True
    )


def test_parse_query_empty_in_list_is_a_syntax_error() -> None:
    """`in ()` is refused at the closing parenthesis."""
    error = refusal("any where a in ()")
    assert (error.line, error.column) == (1, 17)
    assert "expected an expression" in error.message


# --- Functions and arithmetic --------------------------------------------------


def test_parse_query_function_names_are_lower_cased() -> None:
    """Function names are case-insensitive: stored lower-cased."""
    assert condition('cidrMatch(a, "10.0.0.0/8")') == Call(
        "cidrmatch", (f("a"), lit("10.0.0.0/8"))
    )


def test_parse_query_tilde_function_is_insensitive() -> None:
    """`startsWith~(...)` is a case-insensitive call."""
    assert condition('startsWith~(a, "x")') == Call(
        "startswith", (f("a"), lit("x")), insensitive=True
    )


def test_parse_query_function_without_arguments() -> None:
    """A call may have no arguments."""
    assert condition("f()") == Call("f", ())


def test_parse_query_nested_calls() -> None:
    """Calls nest as arguments."""
    assert condition("length(string(a)) > 3") == Comparison(
        ">", Call("length", (Call("string", (f("a"),)),)), lit(3)
    )


def test_parse_query_arithmetic_precedence() -> None:
    """`*`, `/`, `%` bind tighter than `+` and `-`, left to right."""
    assert condition("a + b * c - d % 2 > 0") == Comparison(
        ">",
        Arithmetic(
            "-",
            Arithmetic("+", f("a"), Arithmetic("*", f("b"), f("c"))),
            Arithmetic("%", f("d"), lit(2)),
        ),
        lit(0),
    )
    assert condition("a / b / c") == Arithmetic(
        "/", Arithmetic("/", f("a"), f("b")), f("c")
    )


def test_parse_query_unary_minus_on_number_is_a_negative_literal() -> None:
    """`-1` and `-2.5` are negative literals."""
    assert condition("a == -1") == Comparison("==", f("a"), lit(-1))
    assert condition("a == -2.5") == Comparison("==", f("a"), lit(-2.5))


def test_parse_query_unary_minus_on_expression_subtracts_from_zero() -> None:
    """`-a` is `0 - a`; unary plus is dropped."""
    assert condition("-a < +b") == Comparison(
        "<", Arithmetic("-", lit(0), f("a")), f("b")
    )


# --- Fields ---------------------------------------------------------------------


def test_parse_query_optional_field() -> None:
    """`?field` is an optional field."""
    assert condition("?a.b == 1") == Comparison("==", f("a.b", optional=True), lit(1))


def test_parse_query_backquoted_field_names() -> None:
    """Backquoted segments may hold any character; a doubled backquote is one."""
    assert condition("`my field` == 1") == Comparison("==", f("my field"), lit(1))
    assert condition("a.`0`.b == 1") == Comparison("==", f("a.0.b"), lit(1))
    assert condition("`k8s.io/pod-name` == 1") == Comparison(
        "==", f("k8s.io/pod-name"), lit(1)
    )
    assert condition("`a``b` == 1") == Comparison("==", f("a`b"), lit(1))


def test_parse_query_at_and_underscore_field_names() -> None:
    """Names may start with `@` or `_`."""
    assert condition("@timestamp > _a._b") == Comparison(
        ">", f("@timestamp"), f("_a._b")
    )


# --- Literals -------------------------------------------------------------------


def test_parse_query_string_escapes() -> None:
    """Double-quoted strings resolve \\" \\\\ \\n \\t \\r and \\u{XXXX}."""
    literal = condition(r'a == "q\"b\\n\n\t\r\u{202E}\u{1F600}"')
    assert literal == Comparison("==", f("a"), lit('q"b\\n\n\t\r\u202e\U0001f600'))


def test_parse_query_invalid_escape_is_refused_at_its_backslash() -> None:
    """An unknown escape such as `\\d` is refused where it stands."""
    error = refusal(r'any where a == "x\d"')
    assert (error.line, error.column) == (1, 18)
    assert "\\d" in error.message


def test_parse_query_invalid_unicode_escape_is_refused() -> None:
    """`\\u{...}` needs 2 to 8 hex digits naming a code point."""
    for text in (r'"\u{1}"', r'"\u{D800}"', r'"\u{110000}"', r'"\u0041"'):
        error = refusal(f"any where a == {text}")
        assert (error.line, error.column) == (1, 17)


def test_parse_query_triple_quoted_string_is_raw() -> None:
    """`\"\"\"...\"\"\"` keeps backslashes and quotes, and may span lines."""
    assert condition('a == """C:\\x "q"\nz"""') == Comparison(
        "==", f("a"), lit('C:\\x "q"\nz')
    )


def test_parse_query_question_mark_string_is_raw() -> None:
    """`?"..."` keeps its backslashes."""
    assert condition(r'a == ?"C:\Windows\x"') == Comparison(
        "==", f("a"), lit(r"C:\Windows\x")
    )


def test_parse_query_single_quoted_string_is_refused() -> None:
    """A single-quoted string is refused at its quote, asking for `"`."""
    error = refusal("process where a == 'x'")
    assert (error.line, error.column) == (1, 20)
    assert "double quotes" in error.message


def test_parse_query_numbers_booleans_null() -> None:
    """Integers, floats, exponents, true, false and null are literals."""
    assert condition("a in (1, 2.5, 1e3, .5, true, false, null)") == InSet(
        f("a"),
        (lit(1), lit(2.5), lit(1000.0), lit(0.5), lit(True), lit(False), lit(None)),
    )


def test_parse_query_integer_beyond_long_is_refused() -> None:
    """An integer beyond a signed 64-bit long is refused."""
    error = refusal("any where a == 9223372036854775808")
    assert (error.line, error.column) == (1, 16)


def test_parse_query_unterminated_string_is_refused() -> None:
    """An unterminated string is refused at its opening quote."""
    error = refusal('process where a == "x\n and b')
    assert (error.line, error.column) == (1, 20)
    assert "unterminated" in error.message


def test_parse_query_comments_are_ignored() -> None:
    """`//` and `/* */` comments are skipped, strings holding them are not."""
    query = parse_query(
        '/* lead */ process where // note\n a == "//x/*y*/" /* tail\n */'
    )
    assert query == EventQuery("process", Comparison("==", f("a"), lit("//x/*y*/")))


# --- Errors Elasticsearch would raise ---------------------------------------------


def test_parse_query_maxspan_after_by_is_required() -> None:
    """`with maxspan` before `by` is refused at the keys, as Elasticsearch does."""
    error = refusal("sequence with maxspan=1m by a [x where y] [z where w]")
    assert (error.line, error.column) == (1, 29)
    assert "`by` before `with maxspan`" in error.message


@pytest.mark.parametrize(
    ("span", "column", "words"),
    [
        ("1", 23, "time unit"),
        ("1y", 24, "unknown time unit `y`"),
        ("0s", 23, "positive"),
        ("1.5m", 23, "whole number"),
    ],
)
def test_parse_query_bad_maxspan_is_refused(span: str, column: int, words: str) -> None:
    """A maxspan without unit, with an unknown unit, zero or decimal is refused."""
    error = refusal(f"sequence with maxspan={span} [a where x] [b where y]")
    assert (error.line, error.column) == (1, column)
    assert words in error.message


def test_parse_query_runs_out_of_range_is_refused() -> None:
    """`with runs=` must be 1 to 100."""
    for runs in ("0", "101"):
        error = refusal(f"sequence [a where x] with runs={runs} [b where y]")
        assert (error.line, error.column) == (1, 32)


def test_parse_query_unknown_stage_option_is_refused() -> None:
    """A stage option other than `runs` is refused at its name."""
    error = refusal("sequence [a where x] with count=2 [b where y]")
    assert (error.line, error.column) == (1, 27)
    assert "`count`" in error.message


def test_parse_query_inconsistent_join_keys_are_refused() -> None:
    """Stages with different numbers of keys are refused at the odd stage."""
    error = refusal("sequence [a where x] by p\n  [b where y]")
    assert (error.line, error.column) == (2, 3)
    assert "expected 1 but found 0" in error.message


def test_parse_query_one_stage_without_runs_is_refused() -> None:
    """A sequence of a single event is refused at `sequence`."""
    error = refusal("  sequence [a where x]")
    assert (error.line, error.column) == (1, 3)


# --- Refusals of valid EQL ---------------------------------------------------------


def test_parse_query_sample_is_unsupported() -> None:
    """`sample` queries are refused at the keyword."""
    with pytest.raises(UnsupportedError) as info:
        parse_query("\nsample by host.id\n  [a where x]\n  [b where y]")
    assert (info.value.line, info.value.column) == (2, 1)
    assert info.value.message == "`sample` queries are not supported"


def test_parse_query_missing_event_stage_is_unsupported() -> None:
    """A missing-event stage `![...]` is refused at its `![`."""
    with pytest.raises(UnsupportedError) as info:
        parse_query("sequence by h with maxspan=5m\n [a where x]\n ![b where y]")
    assert (info.value.line, info.value.column) == (3, 2)
    assert "missing-event stages" in info.value.message


@pytest.mark.parametrize(
    ("pipe", "name"),
    [("| head 5", "head"), ("| tail 1", "tail"), ("| filter a == 1", "filter")],
)
def test_parse_query_pipes_are_unsupported(pipe: str, name: str) -> None:
    """Pipes are refused at their `|`, naming the pipe."""
    with pytest.raises(UnsupportedError) as info:
        parse_query(f"sequence [a where x] [b where y]\n  {pipe}")
    assert (info.value.line, info.value.column) == (2, 3)
    assert info.value.message == f"`| {name}` pipes are not supported"


def test_parse_query_join_is_unsupported() -> None:
    """`join` queries are refused at the keyword."""
    with pytest.raises(UnsupportedError) as info:
        parse_query("join by a [x where y] [z where w]")
    assert (info.value.line, info.value.column) == (1, 1)


# --- Syntax errors -------------------------------------------------------------


def test_parse_query_syntax_error_says_found_and_expected() -> None:
    """A syntax error names what was found and what was expected."""
    error = refusal("process a == 1")
    assert (error.line, error.column) == (1, 9)
    assert error.message == "unexpected `a`; expected `where`"


def test_parse_query_end_of_query_error_points_after_the_text() -> None:
    """A query cut short is refused just after its last character."""
    error = refusal("process where a ==\n   b and  \n")
    assert (error.line, error.column) == (2, 9)
    assert error.message == "unexpected end of query; expected an expression"


def test_parse_query_unclosed_parenthesis() -> None:
    """An unclosed parenthesis is reported at the end, expecting `)`."""
    error = refusal("any where (a == 1")
    assert error.message == "unexpected end of query; expected `)`"


def test_parse_query_unknown_character() -> None:
    """A character outside the language is refused where it stands."""
    error = refusal("any where a # b")
    assert (error.line, error.column) == (1, 13)
    assert error.message == "unexpected character `#`"


def test_parse_query_empty_query_is_a_syntax_error() -> None:
    """An empty query is refused at 1:1."""
    error = refusal("")
    assert (error.line, error.column) == (1, 1)


def test_parse_query_syntax_error_is_a_rule_error_not_lark() -> None:
    """Syntax errors are RuleError, never lark's exceptions."""
    with pytest.raises(RuleError) as info:
        parse_query("sequence [")
    assert type(info.value) is RuleError
