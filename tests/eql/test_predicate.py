"""Exact predicates: Elasticsearch's EQL semantics over events' indexed values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.eql.ast import EventQuery, Field, Literal
from runner.eql.ast import Sequence as SequenceQuery
from runner.eql.parser import parse_query
from runner.eql.predicate import (
    compile_condition,
    compile_expr,
    compile_keys,
    lucene_regex,
    referenced_fields,
)
from runner.errors import RuleError, UnsupportedError
from runner.events import Event
from runner.rules.loader import load_rule

Fields = dict[str, list[Any]]

RULE_FILE = (
    Path(__file__).resolve().parents[2]
    / "rules"
    / "defense_evasion_unusual_network_connection_via_dllhost.toml"
)
DLLHOST = load_rule(RULE_FILE).query


def _event(fields: Fields) -> Event:
    return Event("logs-test-default", "e1", 0, None, fields)


def _event_query(text: str) -> EventQuery:
    query = parse_query(text)
    assert isinstance(query, EventQuery)
    return query


def holds(condition: str, fields: Fields | None = None) -> bool:
    """Evaluate ``any where <condition>`` on an event with ``fields``."""
    predicate = compile_condition(_event_query(f"any where {condition}"))
    return predicate(_event(fields or {}))


def value(expression: str, fields: Fields | None = None) -> Any:
    """Evaluate an expression on an event with ``fields``."""
    expr = _event_query(f"any where {expression}").condition
    return compile_expr(expr)(_event(fields or {}))


def _dllhost_stages() -> tuple[EventQuery, EventQuery]:
    query = parse_query(DLLHOST)
    assert isinstance(query, SequenceQuery)
    return query.stages[0].query, query.stages[1].query


def _start(name: str = "dllhost.exe", **extra: list[Any]) -> Fields:
    fields: Fields = {
        "event.category": ["process"],
        "event.type": ["start"],
        "host.os.type": ["windows"],
        "process.name": [name],
        "process.args_count": [1],
    }
    fields.update({key.replace("_", "."): v for key, v in extra.items()})
    return fields


# --- categories ---------------------------------------------------------------


def test_predicate_category_matches_any_element() -> None:
    """``network where`` accepts an event whose event.category array has network."""
    predicate = compile_condition(_event_query("network where true"))
    assert predicate(_event({"event.category": ["process", "network"]}))
    assert not predicate(_event({"event.category": ["process"]}))
    assert not predicate(_event({}))


def test_predicate_category_is_exact() -> None:
    """The category is compared exactly, case-sensitively."""
    predicate = compile_condition(_event_query("process where true"))
    assert not predicate(_event({"event.category": ["Process"]}))


def test_predicate_any_matches_without_category() -> None:
    """``any where`` needs no event.category at all."""
    assert compile_condition(_event_query("any where true"))(_event({}))


# --- the DllHost stages ---------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["dllhost.exe", "DllHost.EXE", "DLLHOST.exe", "DLLHOST.EXE"]
)
def test_predicate_dllhost_start_case_variants(name: str) -> None:
    """The start stage accepts any case of dllhost.exe through ``:``."""
    start, _ = _dllhost_stages()
    assert compile_condition(start)(_event(_start(name)))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"event.type": ["start", "change"]}, True),
        ({"event.type": ["change", "start"]}, True),
        ({"event.type": ["end"]}, False),
        ({"process.args_count": [2]}, False),
        ({"process.args_count": ["1"]}, True),
        ({"host.os.type": ["Windows"]}, False),
        ({"process.name": ["dllhost.exe.bak"]}, False),
        ({"event.category": ["network"]}, False),
    ],
)
def test_predicate_dllhost_start_fields(change: Fields, expected: bool) -> None:
    """The start stage reads arrays as any-of and ``==`` case-sensitively."""
    start, _ = _dllhost_stages()
    assert compile_condition(start)(_event({**_start(), **change})) is expected


@pytest.mark.parametrize(
    ("ips", "expected"),
    [
        (["8.8.8.8"], True),
        (["10.1.2.3"], False),
        (["::ffff:10.1.2.3"], False),
        (["::ffff:8.8.8.8"], True),
        (["FE80::1"], False),
        (["2001:db8::1"], True),
        (["not-an-ip"], True),
        (None, True),
        (["8.8.8.8", "10.0.0.1"], False),
    ],
)
def test_predicate_dllhost_network_exclusion(
    ips: list[str] | None, expected: bool
) -> None:
    """The network stage excludes private ranges; missing or bad IPs pass."""
    _, network = _dllhost_stages()
    fields: Fields = {
        "event.category": ["network"],
        "host.os.type": ["windows"],
        "process.name": ["DllHost.exe"],
    }
    if ips is not None:
        fields["destination.ip"] = ips
    assert compile_condition(network)(_event(fields)) is expected


# --- == and != ------------------------------------------------------------------


def test_predicate_equals_is_case_sensitive() -> None:
    """``==`` compares strings exactly."""
    assert holds('process.name == "dllhost.exe"', {"process.name": ["dllhost.exe"]})
    assert not holds('process.name == "dllhost.exe"', {"process.name": ["DllHost.EXE"]})


def test_predicate_equals_has_no_wildcards() -> None:
    """``==`` treats ``*`` and ``?`` as plain characters."""
    assert not holds('process.name == "dll*"', {"process.name": ["dllhost.exe"]})
    assert holds('process.name == "dll*"', {"process.name": ["dll*"]})


def test_predicate_equals_any_array_element() -> None:
    """``==`` against an array is true when any element is equal."""
    fields: Fields = {"event.type": ["start", "change"]}
    assert holds('event.type == "start"', fields)
    assert holds('event.type == "change"', fields)
    assert not holds('event.type == "end"', fields)


def test_predicate_not_equals_is_not_of_equals() -> None:
    """``!=`` is false when any element equals, and true when the field is missing."""
    assert not holds('event.type != "start"', {"event.type": ["start", "change"]})
    assert holds('event.type != "start"', {"event.type": ["change"]})
    assert holds('event.type != "start"', {})


@pytest.mark.parametrize(
    ("condition", "fields", "expected"),
    [
        ("process.args_count == 1", {"process.args_count": [1]}, True),
        ("process.args_count == 1", {"process.args_count": [1.0]}, True),
        ("process.args_count == 1", {"process.args_count": ["1"]}, True),
        ("process.args_count == 1", {"process.args_count": ["01"]}, False),
        ("process.args_count == 1", {"process.args_count": [True]}, False),
        ('process.args_count == "1"', {"process.args_count": [1]}, True),
        ('process.args_count == "x"', {"process.args_count": [1]}, False),
        ("x == 1.5", {"x": ["1.5"]}, True),
        ("x == true", {"x": [True]}, True),
        ("x == true", {"x": ["true"]}, True),
        ('x == "true"', {"x": [True]}, True),
        ("x == false", {"x": [True]}, False),
        ("x == 1", {"x": [{"a": 1}]}, False),
    ],
)
def test_predicate_equals_coerces_like_elasticsearch(
    condition: str, fields: Fields, expected: bool
) -> None:
    """Numbers and strings meet as a term query on the field's type would."""
    assert holds(condition, fields) is expected


def test_predicate_equals_normalises_ip_constants() -> None:
    """A constant compared with an ip field is normalised like the field."""
    assert holds(
        'destination.ip == "::FFFF:10.1.2.3"', {"destination.ip": ["10.1.2.3"]}
    )


def test_predicate_constant_on_the_left() -> None:
    """A comparison reads the same with the constant on either side."""
    assert holds('"start" == event.type', {"event.type": ["start"]})
    assert holds("2 < process.pid", {"process.pid": [3]})


def test_predicate_field_against_field() -> None:
    """Two fields compare value by value, any pair matching."""
    fields: Fields = {"a": ["x", "y"], "b": ["y"], "c": ["z"]}
    assert holds("a == b", fields)
    assert not holds("a == c", fields)
    assert not holds("a == missing", fields)


# --- ordering -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "fields", "expected"),
    [
        ("process.pid > 1", {"process.pid": [2]}, True),
        ("process.pid > 1", {"process.pid": [1]}, False),
        ("process.pid >= 1", {"process.pid": [1]}, True),
        ("process.pid < 1.5", {"process.pid": [1]}, True),
        ("process.pid <= 0", {"process.pid": [1]}, False),
        ('process.pid > "1"', {"process.pid": [2]}, True),
        ('x > "b"', {"x": ["c"]}, True),
        ('x < "b"', {"x": ["c"]}, False),
        ("x < 9", {"x": ["10"]}, True),
        ("process.pid > 1", {"process.pid": [0, 5]}, True),
        ("process.pid > 1", {}, False),
        ("x > null", {"x": [1]}, False),
        ("x > 1", {"x": [True]}, False),
    ],
)
def test_predicate_ordering(condition: str, fields: Fields, expected: bool) -> None:
    """Ordering is numeric for numbers and lexicographic for strings."""
    assert holds(condition, fields) is expected


# --- : like regex --------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("dllhost.exe", "DllHost.EXE", True),
        ("DLLHOST.EXE", "dllhost.exe", True),
        ("*.exe", "DllHost.EXE", True),
        ("dll*", "DLLHOST.exe", True),
        ("*HOST*", "dllhost.exe", True),
        ("dllhos?.exe", "DLLHOSt.exe", True),
        ("d?llhost.exe", "dllhost.exe", False),
        ("*", "", True),
        ("a*b*c", "AxxBxxC", True),
        ("a*b*c", "AxxBxx", False),
        ("dllhost", "dllhost.exe", False),
        ("dll.exe", "dllXexe", False),
    ],
)
def test_predicate_colon_insensitive_wildcards(
    pattern: str, name: str, expected: bool
) -> None:
    """``:`` is case-insensitive equality with ``*`` and ``?`` wildcards."""
    assert holds(f'process.name : "{pattern}"', {"process.name": [name]}) is expected


def test_predicate_colon_list_is_any() -> None:
    """``:`` against a list of patterns matches when any pattern does."""
    condition = 'process.name : ("cmd.exe", "*HOST.exe")'
    assert holds(condition, {"process.name": ["dllhost.exe"]})
    assert not holds(condition, {"process.name": ["rundll32.exe"]})


def test_predicate_colon_on_numbers_uses_their_text() -> None:
    """``:`` on a numeric value compares its keyword text."""
    assert holds("process.pid : 123", {"process.pid": [123]})
    assert holds('process.pid : "12*"', {"process.pid": [123]})


@pytest.mark.parametrize(
    ("condition", "name", "expected"),
    [
        ('x like "Dll*"', "DllHost.exe", True),
        ('x like "dll*"', "DllHost.exe", False),
        ('x like~ "dll*"', "DllHost.exe", True),
        ('x like ("a", "D?l*")', "DllHost.exe", True),
        ('x like~ ("A", "B")', "a", True),
        (r'x like "C:\\Windows\\*"', r"C:\Windows\System32\cmd.exe", True),
        (r'x like "C:\\Windows\\*"', r"C:/Windows/cmd.exe", False),
    ],
)
def test_predicate_like(condition: str, name: str, expected: bool) -> None:
    """``like`` is case-sensitive, ``like~`` insensitive; a backslash is literal."""
    assert holds(condition, {"x": [name]}) is expected


@pytest.mark.parametrize(
    ("condition", "text", "expected"),
    [
        ('x regex "dll.*\\\\.exe"', "dllhost.exe", True),
        ('x regex "host"', "dllhost.exe", False),
        ('x regex "DLL.*"', "dllhost.exe", False),
        ('x regex~ "DLL.*"', "dllhost.exe", True),
        ('x regex "[0-9]{1,3}(\\\\.[0-9]{1,3}){3}"', "10.0.0.1", True),
        ('x regex "[0-9]{1,3}(\\\\.[0-9]{1,3}){3}"', "10.0.0", False),
        ('x regex "a\\\\d+"', "a42", True),
        ('x regex "[^-]+"', "abc", True),
        ('x regex "[^-]+"', "a-c", False),
        ('x regex "a\\"*\\"b"', "a*b", True),
        ('x regex ".*"', "line\nbreak", True),
        ('x regex ("a", "b")', "b", True),
        ('x regex ".*?(how|help).*"', "please help", True),
    ],
)
def test_predicate_regex_is_anchored_lucene(
    condition: str, text: str, expected: bool
) -> None:
    """``regex`` matches the whole value with Lucene's syntax."""
    assert holds(condition, {"x": [text]}) is expected


@pytest.mark.parametrize(
    "pattern", ["a@b", "^abc", "abc$", "a{2", "a~b", "a<1-5>", "(?i)a", "a*+"]
)
def test_predicate_regex_refuses_untranslatable(pattern: str) -> None:
    """A regular expression that is not translated is refused, naming it."""
    with pytest.raises(UnsupportedError, match="regular expression") as caught:
        holds(f'x regex "{pattern}"')
    assert repr(pattern) in caught.value.message


def test_predicate_lucene_regex_translation() -> None:
    """Lucene quoting and escapes become Python escapes."""
    assert lucene_regex('"a.b"c.') == r"(?:a\.b)c."
    assert lucene_regex(r"\d\.\^") == r"\d\.\^"


# --- in and in~ -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "fields", "expected"),
    [
        ('x in ("a", "b")', {"x": ["b"]}, True),
        ('x in ("a", "b")', {"x": ["B"]}, False),
        ('x in~ ("a", "b")', {"x": ["B"]}, True),
        ('x in ("a", "b")', {"x": ["c", "a"]}, True),
        ('x not in ("a", "b")', {"x": ["c", "a"]}, False),
        ('x not in ("a", "b")', {}, True),
        ('x in ("a*")', {"x": ["abc"]}, False),
        ("process.pid in (1, 2)", {"process.pid": [2]}, True),
        ("process.pid in (1, 2)", {"process.pid": ["2"]}, True),
        ('process.pid in ("1", "2")', {"process.pid": [2]}, True),
        ("x in (1, 2)", {"x": [True]}, False),
        ('x in ("a", null)', {}, False),
        ('x in ("a")', {"x": [{"a": 1}, "a"]}, True),
        ("x in (y, z)", {"x": ["b"], "z": ["b"]}, True),
    ],
)
def test_predicate_in(condition: str, fields: Fields, expected: bool) -> None:
    """``in`` is exact set membership, ``in~`` case-insensitive; any element."""
    assert holds(condition, fields) is expected


# --- null and optional fields -----------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "fields", "expected"),
    [
        ("x == null", {}, True),
        ("x == null", {"x": ["a"]}, False),
        ("x != null", {"x": ["a"]}, True),
        ("x != null", {}, False),
        ("null == x", {}, True),
        ("?x == null", {}, True),
        ('?x == "a"', {}, False),
        ('not ?x == "a"', {}, True),
        ('?x.y : "a*"', {"x.y": ["ab"]}, True),
        ("length(x) == null", {}, True),
    ],
)
def test_predicate_null_and_optional(
    condition: str, fields: Fields, expected: bool
) -> None:
    """``== null`` means missing; a missing optional field reads as null."""
    assert holds(condition, fields) is expected


@pytest.mark.parametrize(
    "condition",
    [
        'not process.name : "x"',
        'not process.name like "x*"',
        'not process.name regex "x.*"',
        'not process.name in ("x")',
        "not process.pid > 1",
        'not startsWith(process.name, "x")',
        'not cidrmatch(destination.ip, "10.0.0.0/8")',
        "not x",
    ],
)
def test_predicate_not_over_missing_is_true(condition: str) -> None:
    """Every condition over a missing field is false, so its ``not`` is true."""
    assert holds(condition)
    assert not holds(condition.removeprefix("not "))


def test_predicate_boolean_field_condition() -> None:
    """A boolean field used as a condition is true when any value is true."""
    assert holds("x", {"x": [False, True]})
    assert not holds("x", {"x": ["true"]})


def test_predicate_and_or_short_circuit() -> None:
    """``and``/``or`` combine two-valued results in any evaluation order."""
    fields: Fields = {"a": ["1"], "b": ["2"]}
    assert holds('a == "1" and b == "2"', fields)
    assert not holds('a == "1" and b == "3"', fields)
    assert holds('a == "0" or b == "2"', fields)
    assert holds('a == "0" or length(b) == 1 or x == 1', fields)
    assert not holds('(a == "0" or b == "0") and startsWith(a, "1")', fields)


# --- functions ---------------------------------------------------------------------

_PATH = r"C:\Windows\System32\cmd.exe"


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ("add(4, 5)", {}, 9),
        ("add(4, 0.5)", {}, 4.5),
        ("add(process.args_count, 5)", {"process.args_count": [4]}, 9),
        ("add(null, 4)", {}, None),
        ("add(x, 4)", {}, None),
        (r'between(file.path, "System32\\", ".exe")', {"file.path": [_PATH]}, "cmd"),
        (r'between(file.path, "system32\\", ".exe")', {"file.path": [_PATH]}, ""),
        (r'between~(file.path, "system32\\", ".exe")', {"file.path": [_PATH]}, "cmd"),
        (r'between(file.path, "\\", "\\", false)', {"file.path": [_PATH]}, "Windows"),
        (
            r'between(file.path, "\\", "\\", true)',
            {"file.path": [_PATH]},
            r"Windows\System32",
        ),
        ('between("", "a", "b")', {}, ""),
        ('between(null, "a", "b")', {}, None),
        ('concat("process is ", "regsvr32.exe")', {}, "process is regsvr32.exe"),
        ('concat("regsvr32.exe", " ", 42)', {}, "regsvr32.exe 42"),
        ('concat("regsvr32.exe", " ", 42.5)', {}, "regsvr32.exe 42.5"),
        ('concat("regsvr32.exe", " ", true)', {}, "regsvr32.exe true"),
        ('concat(x, "a")', {}, None),
        ("divide(4, 2)", {}, 2),
        ("divide(4, 3)", {}, 1),
        ("divide(-7, 2)", {}, -3),
        ("divide(0.5, 0.25)", {}, 2.0),
        ("divide(4, 0)", {}, None),
        ('endsWith("regsvr32.exe", ".exe")', {}, True),
        ('endsWith("regsvr32.exe", ".EXE")', {}, False),
        ('endsWith~("regsvr32.exe", ".EXE")', {}, True),
        ('endsWith("", "")', {}, True),
        ('endsWith(null, ".exe")', {}, None),
        ('indexOf(url.domain, ".")', {"url.domain": ["subdomain.example.com"]}, 9),
        ('indexOf(url.domain, ".", 10)', {"url.domain": ["subdomain.example.com"]}, 17),
        ('indexOf(url.domain, ".", -6)', {"url.domain": ["subdomain.example.com"]}, 9),
        ('indexOf(url.domain, "", 10)', {"url.domain": ["subdomain.example.com"]}, 10),
        ('indexOf(url.domain, "z")', {"url.domain": ["subdomain.example.com"]}, None),
        (
            'indexOf(url.domain, ".", 30)',
            {"url.domain": ["subdomain.example.com"]},
            None,
        ),
        ('indexOf~("ABC", "b")', {}, 1),
        ('length("explorer.exe")', {}, 12),
        ('length("")', {}, 0),
        ("length(null)", {}, None),
        ('length("\U0001f600")', {}, 2),
        ("modulo(10, 6)", {}, 4),
        ("modulo(10, -6)", {}, 4),
        ("modulo(-10, -6)", {}, -4),
        ("modulo(10, 0.5)", {}, 0.0),
        ("multiply(0.5, 2)", {}, 1.0),
        ("multiply(-2, -2)", {}, 4),
        ('number("1337")', {}, 1337),
        ('number("42.5")', {}, 42.5),
        ('number("deadbeef", 16)', {}, 3735928559),
        ('number("0xdeadbeef")', {}, 3735928559),
        ('number("0xdeadbeef", null)', {}, 3735928559),
        ('number("+1337")', {}, 1337),
        ('number("-1337")', {}, -1337),
        ('number("  1337  ")', {}, 1337),
        ('number("1_000")', {}, None),
        ('number("abc")', {}, None),
        ("number(null)", {}, None),
        ('startsWith("regsvr32.exe", "regsvr32")', {}, True),
        ('startsWith("regsvr32.exe", "REGSVR32")', {}, False),
        ('startsWith~("regsvr32.exe", "REGSVR32")', {}, True),
        ('startsWith("regsvr32.exe", x)', {"x": ["regsvr32"]}, True),
        ("string(42)", {}, "42"),
        ("string(42.5)", {}, "42.5"),
        ("string(true)", {}, "true"),
        ("string(1e20)", {}, "1.0E20"),
        ("string(null)", {}, None),
        ('stringContains("start regsvr32.exe", "regsvr32")', {}, True),
        ('stringContains("start regsvr32.exe", "REGSVR32")', {}, False),
        ('stringContains~("start regsvr32.exe", "REGSVR32")', {}, True),
        ('stringContains("", "")', {}, False),
        ('stringContains("abc", "")', {}, False),
        ('substring("start regsvr32.exe", 6)', {}, "regsvr32.exe"),
        ('substring("start regsvr32.exe", 0, 5)', {}, "start"),
        ('substring("start regsvr32.exe", 6, 14)', {}, "regsvr32"),
        ('substring("start regsvr32.exe", -4)', {}, ".exe"),
        ('substring("start regsvr32.exe", -4, -1)', {}, ".ex"),
        ("subtract(10, 2)", {}, 8),
        ("subtract(1, 0.5)", {}, 0.5),
        ("subtract(x, 1)", {}, None),
        ("process.args_count + 1", {"process.args_count": [1]}, 2),
        ("-process.args_count", {"process.args_count": [3]}, -3),
        ("7 % 4", {}, 3),
        ("length(x)", {"x": ["a", "bcd"]}, (1, 3)),
        ("length(x)", {"x": [5]}, None),
    ],
)
def test_predicate_function_reference(
    expression: str, fields: Fields, expected: Any
) -> None:
    """Each function returns what Elasticsearch's function reference shows."""
    result = value(expression, fields)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("name", ["cidrmatch", "cidrMatch", "CIDRMATCH", "CidrMatch"])
def test_predicate_function_names_are_case_insensitive(name: str) -> None:
    """Function names resolve whatever their case."""
    assert holds(f'{name}(source.ip, "10.0.0.0/8")', {"source.ip": ["10.9.9.9"]})


def test_predicate_function_over_array_is_any() -> None:
    """A function over a multi-valued field applies per value; any true value wins."""
    assert holds('startsWith(process.args, "-e")', {"process.args": ["a", "-enc"]})
    assert not holds('startsWith(process.args, "-e")', {"process.args": ["a", "b"]})


def test_predicate_null_function_is_false() -> None:
    """A function returning null is false as a condition; ``not`` makes it true."""
    assert not holds('startsWith(x, "a")')
    assert holds('not startsWith(x, "a")')
    assert not holds('startsWith(x, "a") == false')


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("nosuch(x)", "unknown function nosuch"),
        ("length(x, y) > 1", "length takes 1 arguments, got 2"),
        ("startsWith(x)", "startsWith takes 2 arguments, got 1"),
        ("length~(x) > 1", "length has no case-insensitive form"),
        ("cidrMatch(x)", "cidrMatch takes at least 2 arguments"),
        ("length(x)", "returns a value, not a condition"),
        ('"abc"', "not a condition"),
    ],
)
def test_predicate_invalid_calls_raise_located(condition: str, message: str) -> None:
    """Unknown functions, bad arity or non-conditions fail with a position."""
    with pytest.raises(RuleError, match=message) as caught:
        holds(condition)
    assert caught.value.line == 1
    assert caught.value.column is not None


@pytest.mark.parametrize(
    "condition",
    ["cidrMatch(x, y)", 'between(a, "b", "c", x) == ""', 'number("1", x) == 1'],
)
def test_predicate_non_constant_arguments_unsupported(condition: str) -> None:
    """Arguments Elasticsearch requires to be constant are refused otherwise."""
    with pytest.raises(UnsupportedError, match="must be a constant"):
        holds(condition)


def test_predicate_odd_values_never_raise() -> None:
    """Objects, lists or mixed types in a field make conditions false, not errors."""
    fields: Fields = {"x": [{"a": 1}, [1, 2], None]}
    for condition in (
        'x == "a"',
        'x : "a*"',
        'x like "a"',
        'x regex "a"',
        'x in ("a", 1)',
        "x > 1",
        "length(x) > 1",
        "x + 1 == 2",
        'cidrMatch(x, "10.0.0.0/8")',
    ):
        assert holds(condition, fields) is False, condition


# --- join keys and fields -------------------------------------------------------------


def test_predicate_keys_extract_values() -> None:
    """A key is the tuple of its fields' values, multi-valued ones as tuples."""
    key = compile_keys([Field("host.id"), Field("process.entity_id")])
    event = _event({"host.id": ["H"], "process.entity_id": ["p1", "p2"]})
    assert key(event) == ("H", ("p1", "p2"))


def test_predicate_keys_missing_required_is_none() -> None:
    """A missing required key field keeps the event out of joins."""
    key = compile_keys([Field("host.id"), Field("process.entity_id")])
    assert key(_event({"host.id": ["H"]})) is None
    assert compile_keys([Field("host.id")])(_event({})) is None


def test_predicate_keys_optional_missing_is_null_element() -> None:
    """A missing optional key field is a None element of the key."""
    key = compile_keys([Field("host.id"), Field("user.id", optional=True)])
    assert key(_event({"host.id": ["H"]})) == ("H", None)


def test_predicate_keys_are_case_sensitive() -> None:
    """Key values are kept as they are, never case-folded."""
    key = compile_keys([Field("host.id")])
    assert key(_event({"host.id": ["Host"]})) != key(_event({"host.id": ["host"]}))


def test_predicate_keys_must_be_fields() -> None:
    """A join key that is not a field is refused."""
    with pytest.raises(UnsupportedError, match="join key"):
        compile_keys([Literal("x")])


def test_predicate_no_keys_give_empty_key() -> None:
    """Without keys every event has the empty key."""
    assert compile_keys([])(_event({})) == ()


def test_predicate_referenced_fields_of_dllhost() -> None:
    """The fields of the DllHost rule are its conditions', keys' and category's."""
    assert referenced_fields(parse_query(DLLHOST)) == {
        "event.category",
        "event.type",
        "host.id",
        "host.os.type",
        "process.args_count",
        "process.entity_id",
        "process.name",
        "destination.ip",
    }
