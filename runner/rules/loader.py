"""Load detection-rules TOML files into :class:`~runner.rules.model.Rule`.

A rule file is read, decoded with :mod:`tomllib`, validated, and its query
parsed. Every failure is a :class:`~runner.errors.RuleError` located in the
file: a TOML syntax error where tomllib found it, a missing key at the
``[rule]`` header, a value of the wrong type at its key, and a query error at
its place inside the query string (the parser's query-relative position is
moved into the file, through any TOML escapes).

:func:`load_rules` loads a folder and collects the failures beside the rules,
so one bad file never hides the others.
"""

from __future__ import annotations

import bisect
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from runner.eql.ast import Query
from runner.eql.parser import parse_query
from runner.errors import RuleError, UnsupportedError
from runner.rules.datemath import parse_duration, parse_lookback
from runner.rules.model import (
    DEFAULT_FROM,
    DEFAULT_INTERVAL,
    DEFAULT_MAX_SIGNALS,
    SEVERITIES,
    Rule,
)

__all__ = ["load_rule", "load_rules"]

_RULE_TABLE = "rule"
_THREAT_TABLE = "rule.threat"

_T = TypeVar("_T")


def load_rule(path: str | Path) -> Rule:
    """Load, validate and parse one rule file.

    Args:
        path: A detection-rules TOML file.

    Returns:
        The rule, its query parsed.

    Raises:
        UnsupportedError: The rule is not EQL, or its query uses EQL the
            runner refuses.
        RuleError: Anything else wrong with the file; ``path``, ``line`` and
            ``column`` locate it.
    """
    source = _Source.read(str(path))
    data = _parse_toml(source)
    reader = _Reader(_rule_table(data, source), source)
    _check_language(reader)
    query = reader.text("query")
    parsed = _parse_query_in_file(query, source)
    return _build_rule(reader, query, parsed, data)


def load_rules(folder: str | Path) -> tuple[list[Rule], list[RuleError]]:
    """Load every ``*.toml`` under ``folder``, recursively, in path order.

    Args:
        folder: The rules folder.

    Returns:
        The rules that loaded, and one error per file that did not (or one
        error for the folder when it is not a folder). A ``rule_id`` already
        loaded from an earlier file is an error for the later file.
    """
    root = Path(folder)
    if not root.is_dir():
        return [], [RuleError("not a folder of rules", path=str(root))]
    rules: list[Rule] = []
    errors: list[RuleError] = []
    seen: dict[str, str] = {}
    for path in sorted(root.rglob("*.toml")):
        try:
            rule = load_rule(path)
        except RuleError as exc:
            errors.append(exc)
            continue
        if rule.rule_id in seen:
            errors.append(_duplicate(rule, seen[rule.rule_id]))
            continue
        seen[rule.rule_id] = rule.path
        rules.append(rule)
    return rules, errors


def _build_rule(
    reader: _Reader, query: str, parsed: Query, data: dict[str, Any]
) -> Rule:
    interval = reader.text("interval", DEFAULT_INTERVAL)
    interval_ms = reader.convert("interval", parse_duration, interval)
    from_ = reader.text("from", DEFAULT_FROM)
    return Rule(
        path=reader.source.path,
        rule_id=reader.text("rule_id"),
        name=reader.text("name"),
        description=reader.text("description"),
        version=reader.integer("version", 1, minimum=1),
        type=reader.text("type"),
        language=reader.text("language"),
        query=query,
        parsed=parsed,
        index=reader.strings("index", required=True),
        from_=from_,
        lookback_ms=reader.convert(
            "from", lambda text: parse_lookback(text, interval_ms), from_
        ),
        interval=interval,
        interval_ms=interval_ms,
        max_signals=reader.integer("max_signals", DEFAULT_MAX_SIGNALS, minimum=1),
        risk_score=reader.integer("risk_score", minimum=0, maximum=100),
        severity=_severity(reader),
        threat=_threats(reader),
        references=reader.strings("references"),
        tags=reader.strings("tags"),
        author=reader.strings("author"),
        license=reader.text("license", ""),
        note=reader.text("note", ""),
        timestamp_override=reader.optional_text("timestamp_override"),
        tiebreaker_field=reader.optional_text("tiebreaker_field"),
        event_category_override=reader.optional_text("event_category_override"),
        building_block_type=reader.optional_text("building_block_type"),
        query_offset=_query_offset(reader.source),
        metadata=_metadata(data, reader.source),
        raw=data,
    )


# --- The file, and where things are in it -------------------------------------


class _KeyPosition(NamedTuple):
    line: int
    column: int
    value_column: int


@dataclass
class _Source:
    """A rule file's text, with the lines of its tables and keys."""

    path: str
    text: str
    line_starts: list[int] = field(default_factory=list)
    tables: dict[str, list[int]] = field(default_factory=dict)
    keys: dict[tuple[str, str], _KeyPosition] = field(default_factory=dict)

    @classmethod
    def read(cls, path: str) -> _Source:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleError(f"cannot read the rule file: {exc}", path=path) from exc
        source = cls(path, text)
        source.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        _scan_layout(source)
        return source

    def position(self, offset: int) -> tuple[int, int]:
        """Return the 1-based line and column of an offset in the text."""
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def table_line(self, table: str, index: int = 0) -> int | None:
        lines = self.tables.get(table, [])
        return lines[index] if index < len(lines) else None

    def error(
        self,
        message: str,
        line: int | None,
        column: int | None = 1,
        kind: type[RuleError] = RuleError,
    ) -> RuleError:
        column = None if line is None else column
        return kind(message, path=self.path, line=line, column=column)


_HEADER = re.compile(r"[ \t]*\[\[?[ \t]*([A-Za-z0-9_.\-]+)[ \t]*\]\]?[ \t]*(#.*)?\r?")
_KEY = re.compile(r"[ \t]*([A-Za-z0-9_\-]+)[ \t]*=[ \t]*")
_MULTILINE_OPEN = ("'''", '"""')
# A `"""` closes a basic string unless a backslash escapes its first quote.
_CLOSERS = {"'''": re.compile("'''"), '"""': re.compile(r'(?<!\\)(?:\\\\)*"""')}


def _scan_layout(source: _Source) -> None:
    """Record the line of every table header and of every key of a table.

    The bodies of multi-line strings are skipped: a query line such as
    ``[process where ...]`` is not a table header.
    """
    table = ""
    open_delimiter: str | None = None
    for number, line in enumerate(source.text.split("\n"), start=1):
        if open_delimiter is not None:
            if _CLOSERS[open_delimiter].search(line):
                open_delimiter = None
            continue
        header = _HEADER.fullmatch(line)
        if header is not None:
            table = header.group(1)
            source.tables.setdefault(table, []).append(number)
            continue
        key = _KEY.match(line)
        if key is None:
            continue
        position = _KeyPosition(number, key.start(1) + 1, key.end() + 1)
        source.keys.setdefault((table, key.group(1)), position)
        open_delimiter = _opens_multiline(line[key.end() :])


def _opens_multiline(value: str) -> str | None:
    """Return the delimiter of a multi-line string left open by ``value``."""
    for delimiter in _MULTILINE_OPEN:
        if value.startswith(delimiter):
            rest = value[len(delimiter) :]
            return None if _CLOSERS[delimiter].search(rest) else delimiter
    return None


def _parse_toml(source: _Source) -> dict[str, Any]:
    """Decode the file; a syntax error keeps tomllib's line and column."""
    try:
        return tomllib.loads(source.text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = re.search(r" \(at line (\d+), column (\d+)\)$", message)
        at_end = re.search(r" \(at end of document\)$", message)
        if at is not None:
            line, column = int(at.group(1)), int(at.group(2))
            message = message[: at.start()]
        elif at_end is not None:
            line, column = source.position(len(source.text))
            message = message[: at_end.start()]
        else:
            line, column = 1, 1
        raise source.error(f"invalid TOML: {message}", line, column) from exc


def _rule_table(data: Mapping[str, Any], source: _Source) -> Mapping[str, Any]:
    table = data.get(_RULE_TABLE)
    if not isinstance(table, Mapping):
        raise source.error("the file has no [rule] table", line=1)
    return table


def _metadata(data: Mapping[str, Any], source: _Source) -> dict[str, Any]:
    metadata = data.get("metadata", {})
    if not isinstance(metadata, Mapping):
        key = source.keys.get(("", "metadata"), _KeyPosition(1, 1, 1))
        raise source.error("`metadata` must be a table", key.line, key.column)
    return dict(metadata)


def _duplicate(rule: Rule, first_path: str) -> RuleError:
    source = _Source.read(rule.path)
    key = source.keys.get((_RULE_TABLE, "rule_id"))
    return source.error(
        f"rule_id {rule.rule_id} is already used by {first_path}",
        None if key is None else key.line,
        None if key is None else key.column,
    )


# --- Values of the [rule] table ------------------------------------------------


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return "a date or time"


class _Reader:
    """Typed access to the [rule] table; each error points at its key."""

    def __init__(self, table: Mapping[str, Any], source: _Source) -> None:
        self.table = table
        self.source = source

    def fail(
        self, key: str, message: str, kind: type[RuleError] = RuleError
    ) -> RuleError:
        """Return an error located at ``key``, or at [rule] when it is absent."""
        found = self.source.keys.get((_RULE_TABLE, key))
        if found is None:
            line = self.source.table_line(_RULE_TABLE)
            return self.source.error(message, line, kind=kind)
        return self.source.error(message, found.line, found.column, kind)

    def missing(self, key: str) -> RuleError:
        line = self.source.table_line(_RULE_TABLE)
        return self.source.error(f"[rule] has no `{key}`", line)

    def wrong_type(self, key: str, expected: str) -> RuleError:
        actual = _toml_type(self.table[key])
        return self.fail(key, f"`{key}` must be {expected}, not {actual}")

    def text(self, key: str, default: str | None = None) -> str:
        """Return a string value; without a default the key is required."""
        if key not in self.table:
            if default is None:
                raise self.missing(key)
            return default
        value = self.table[key]
        if not isinstance(value, str):
            raise self.wrong_type(key, "a string")
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if key in self.table else None

    def integer(
        self,
        key: str,
        default: int | None = None,
        *,
        minimum: int,
        maximum: int | None = None,
    ) -> int:
        """Return an integer within bounds; without a default, required."""
        if key not in self.table:
            if default is None:
                raise self.missing(key)
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.wrong_type(key, "an integer")
        if maximum is None and value < minimum:
            raise self.fail(key, f"`{key}` must be at least {minimum}, not {value}")
        if maximum is not None and not minimum <= value <= maximum:
            raise self.fail(
                key, f"`{key}` must be from {minimum} to {maximum}, not {value}"
            )
        return value

    def strings(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        """Return an array of strings; a required one must not be empty."""
        if key not in self.table:
            if required:
                raise self.missing(key)
            return ()
        value = self.table[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.wrong_type(key, "an array of strings")
        if required and not value:
            raise self.fail(key, f"`{key}` must not be empty")
        return tuple(value)

    def convert(self, key: str, function: Callable[[str], _T], value: str) -> _T:
        """Apply ``function``; its ValueError becomes an error at ``key``."""
        try:
            return function(value)
        except ValueError as exc:
            raise self.fail(key, str(exc)) from exc


def _check_language(reader: _Reader) -> None:
    """Refuse a rule that is not EQL before looking at anything else."""
    for key in ("language", "type"):
        value = reader.text(key)
        if value != "eql":
            raise reader.fail(
                key,
                f'`{key} = "{value}"` rules are not supported: '
                "the runner runs EQL rules only",
                UnsupportedError,
            )


def _severity(reader: _Reader) -> str:
    severity = reader.text("severity")
    if severity not in SEVERITIES:
        raise reader.fail(
            "severity", f"`severity` must be one of {', '.join(SEVERITIES)}"
        )
    return severity


# --- MITRE ATT&CK mappings -------------------------------------------------------

_Fail = Callable[[str], RuleError]


def _threats(reader: _Reader) -> tuple[dict[str, Any], ...]:
    """Return ``threat`` in Kibana's shape, each entry checked."""
    entries = reader.table.get("threat", [])
    if not isinstance(entries, list):
        raise reader.wrong_type("threat", "an array of tables")
    return tuple(
        _threat(entry, _threat_failure(reader, index))
        for index, entry in enumerate(entries)
    )


def _threat_failure(reader: _Reader, index: int) -> _Fail:
    """Return a factory of errors located at the index-th [[rule.threat]]."""
    line = reader.source.table_line(_THREAT_TABLE, index)

    def fail(message: str) -> RuleError:
        if line is None:
            return reader.fail("threat", message)
        return reader.source.error(message, line)

    return fail


def _threat(entry: object, fail: _Fail) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise fail("each `threat` must be a table")
    framework = entry.get("framework")
    if not isinstance(framework, str):
        raise fail("`threat` needs a `framework` string")
    return {
        "framework": framework,
        "tactic": _reference(entry.get("tactic"), "threat.tactic", fail),
        "technique": [
            _technique(each, fail) for each in _tables(entry, "technique", fail)
        ],
    }


def _technique(entry: object, fail: _Fail) -> dict[str, Any]:
    technique = _reference(entry, "threat.technique", fail)
    subtechniques = _tables(entry, "subtechnique", fail)
    if subtechniques:
        technique["subtechnique"] = [
            _reference(each, "threat.technique.subtechnique", fail)
            for each in subtechniques
        ]
    return technique


def _tables(entry: object, key: str, fail: _Fail) -> list[Any]:
    value = entry.get(key, []) if isinstance(entry, Mapping) else []
    if not isinstance(value, list):
        raise fail(f"`{key}` must be an array of tables")
    return value


def _reference(value: object, what: str, fail: _Fail) -> dict[str, Any]:
    """Return ``{id, name, reference}``, all strings, or fail."""
    if not isinstance(value, Mapping):
        raise fail(f"`{what}` must be a table with id, name and reference")
    reference = {key: value.get(key) for key in ("id", "name", "reference")}
    missing = [key for key, each in reference.items() if not isinstance(each, str)]
    if missing:
        raise fail(f"`{what}` needs a string `{missing[0]}`")
    return reference


# --- The query inside the file -----------------------------------------------------


def _parse_query_in_file(query: str, source: _Source) -> Query:
    """Parse the rule's query; an error moves to its place in the file."""
    try:
        return parse_query(query)
    except RuleError as exc:
        raise _locate_in_file(exc, query, source) from exc


def _locate_in_file(exc: RuleError, query: str, source: _Source) -> RuleError:
    key = source.keys.get((_RULE_TABLE, "query"))
    if key is None:
        return source.error(exc.message, None, kind=type(exc))
    if exc.line is None or exc.column is None:
        return source.error(exc.message, key.line, key.column, type(exc))
    decoded = _decode_string(source.text, _value_start(source, key))
    if decoded is None or decoded[0] != query:
        # A string this decoder cannot follow char by char: shift the whole
        # query by where its first character is, ignoring escapes.
        return exc.at(source.path, *_query_offset(source))
    offsets = decoded[1]
    line, column = source.position(offsets[_index_in(query, exc.line, exc.column)])
    return source.error(exc.message, line, column, type(exc))


def _value_start(source: _Source, key: _KeyPosition) -> int:
    return source.line_starts[key.line - 1] + key.value_column - 1


def _query_offset(source: _Source) -> tuple[int, int]:
    """Return the line and column offsets of the query's first character."""
    key = source.keys.get((_RULE_TABLE, "query"))
    if key is None:
        return 0, 0
    start = _value_start(source, key)
    delimiter = next((d for d in _DELIMITERS if source.text.startswith(d, start)), "")
    first = _skip_first_newline(source.text, start + len(delimiter), delimiter)
    line, column = source.position(first)
    return line - 1, column - 1


def _index_in(text: str, line: int, column: int) -> int:
    """Return the index of a 1-based line and column in ``text``, clamped."""
    lines = text.split("\n")
    line = min(max(line, 1), len(lines))
    index = sum(len(each) + 1 for each in lines[: line - 1]) + column - 1
    return min(max(index, 0), len(text))


_BASIC_ESCAPES = {
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "f": "\f",
    "r": "\r",
    '"': '"',
    "\\": "\\",
}
_LINE_ENDING_BACKSLASH = re.compile(r"\\[ \t]*\r?\n[ \t\r\n]*")
_UNICODE_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_DELIMITERS = ("'''", '"""', "'", '"')


def _decode_string(text: str, start: int) -> tuple[str, list[int]] | None:
    """Decode the TOML string at ``start``, remembering where each char was.

    Returns the value and, for each of its characters and one past its end,
    the offset in ``text`` it came from; None when ``start`` holds no string
    this decoder follows.
    """
    delimiter = next((d for d in _DELIMITERS if text.startswith(d, start)), None)
    if delimiter is None:
        return None
    position = _skip_first_newline(text, start + len(delimiter), delimiter)
    chars: list[str] = []
    offsets: list[int] = []
    while position < len(text):
        if _closes(text, position, delimiter):
            return "".join(chars), [*offsets, position]
        if delimiter[0] == '"' and text[position] == "\\":
            step = _basic_escape(text, position, multiline=len(delimiter) == 3)
            if step is None:
                return None
            value, after = step
            chars.extend(value)
            offsets.extend([position] * len(value))
            position = after
            continue
        chars.append(text[position])
        offsets.append(position)
        position += 1
    return None


def _skip_first_newline(text: str, position: int, delimiter: str) -> int:
    """TOML drops a newline right after a multi-line string's opening."""
    if len(delimiter) == 3:
        for newline in ("\r\n", "\n"):
            if text.startswith(newline, position):
                return position + len(newline)
    return position


def _closes(text: str, position: int, delimiter: str) -> bool:
    """Tell whether the string ends at ``position``.

    A multi-line string may end with one or two quotes of its own before the
    closing three (``'''a''''`` is ``a'``).
    """
    if not text.startswith(delimiter, position):
        return False
    return len(delimiter) == 1 or not text.startswith(delimiter[0] * 4, position)


def _basic_escape(
    text: str, position: int, *, multiline: bool
) -> tuple[str, int] | None:
    """Return the value of the escape at ``position`` and where it ends."""
    if multiline:
        trimmed = _LINE_ENDING_BACKSLASH.match(text, position)
        if trimmed is not None:
            return "", trimmed.end()
    unicode = _UNICODE_ESCAPE.match(text, position)
    if unicode is not None:
        return chr(int(unicode.group(1) or unicode.group(2), 16)), unicode.end()
    char = text[position + 1 : position + 2]
    if char in _BASIC_ESCAPES:
        return _BASIC_ESCAPES[char], position + 2
    return None
