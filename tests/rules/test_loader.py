"""Tests of the rule loader: the project's rule, defaults and located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.eql.ast import Call, Comparison, EventQuery, Field, Literal, Not, Sequence
from runner.errors import RuleError, UnsupportedError
from runner.rules.loader import load_rule, load_rules
from runner.rules.model import Rule

REPO = Path(__file__).parents[2]
DLLHOST = REPO / "rules" / "defense_evasion_unusual_network_connection_via_dllhost.toml"

MINIMAL = """\
[metadata]
creation_date = "2026/01/01"

[rule]
description = "Finds x."
index = ["logs-*"]
language = "eql"
name = "X"
risk_score = 21
rule_id = "r-1"
severity = "low"
type = "eql"
query = '''
process where process.name == "x"
'''
"""


def write(folder: Path, text: str, name: str = "rule.toml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def position(text: str, needle: str, occurrence: int = 0) -> tuple[int, int]:
    """Return the 1-based line and column of ``needle`` in ``text``."""
    index = -1
    for _ in range(occurrence + 1):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def load_error(folder: Path, text: str) -> RuleError:
    path = write(folder, text)
    with pytest.raises(RuleError) as info:
        load_rule(path)
    assert info.value.path == str(path)
    return info.value


def located(error: RuleError) -> tuple[int | None, int | None]:
    return error.line, error.column


# --- The project's rule ------------------------------------------------------------


@pytest.fixture(scope="module")
def dllhost() -> Rule:
    """The project's DllHost rule, loaded."""
    return load_rule(DLLHOST)


def test_load_rule_dllhost_metadata(dllhost: Rule) -> None:
    """The DllHost rule loads with the seed's identity, schedule and scores."""
    assert dllhost.rule_id == "c7894234-7814-44c2-92a9-f7d851ea246a"
    assert dllhost.name == "Unusual Network Connection via DllHost"
    assert dllhost.version == 208
    assert (dllhost.type, dllhost.language) == ("eql", "eql")
    assert (dllhost.severity, dllhost.risk_score) == ("medium", 47)
    assert (dllhost.from_, dllhost.lookback_ms) == ("now-9m", 540_000)
    assert (dllhost.interval, dllhost.interval_ms) == ("5m", 300_000)
    assert dllhost.max_signals == 100
    assert dllhost.author == ("Elastic",)
    assert dllhost.license == "Elastic License v2"
    assert dllhost.timestamp_override is None
    assert dllhost.building_block_type is None
    assert dllhost.metadata["maturity"] == "production"
    assert dllhost.metadata["integration"] == ["endpoint", "windows"]


def test_load_rule_dllhost_indices_tags_references(dllhost: Rule) -> None:
    """The DllHost rule searches the seed's four indices, with 7 tags, 3 refs."""
    assert dllhost.index == (
        "winlogbeat-*",
        "logs-endpoint.events.process-*",
        "logs-endpoint.events.network-*",
        "logs-windows.sysmon_operational-*",
    )
    assert len(dllhost.tags) == 7
    assert "Resources: Investigation Guide" in dllhost.tags
    assert len(dllhost.references) == 3
    assert dllhost.note.startswith("## Triage and analysis")
    assert "### Response and remediation" in dllhost.note


def test_load_rule_dllhost_threat_in_kibana_shape(dllhost: Rule) -> None:
    """threat is normalised to Kibana's framework/tactic/technique shape."""
    assert dllhost.threat == (
        {
            "framework": "MITRE ATT&CK",
            "tactic": {
                "id": "TA0005",
                "name": "Defense Evasion",
                "reference": "https://attack.mitre.org/tactics/TA0005/",
            },
            "technique": [
                {
                    "id": "T1218",
                    "name": "System Binary Proxy Execution",
                    "reference": "https://attack.mitre.org/techniques/T1218/",
                }
            ],
        },
    )


def test_load_rule_dllhost_query_is_parsed(dllhost: Rule) -> None:
    """The DllHost query is the seed's sequence, parsed."""
    assert isinstance(dllhost.parsed, Sequence)
    assert dllhost.parsed.maxspan_ms == 60_000
    assert len(dllhost.parsed.stages) == 2
    assert dllhost.query.startswith("sequence by host.id, process.entity_id")
    exclusion = dllhost.parsed.stages[1].query.condition
    assert "cidrmatch" in repr(exclusion)


# --- Defaults and shapes --------------------------------------------------------


def test_load_rule_kibana_defaults(tmp_path: Path) -> None:
    """Without from, interval, max_signals, version: now-6m, 5m, 100, 1."""
    rule = load_rule(write(tmp_path, MINIMAL))
    assert (rule.from_, rule.lookback_ms) == ("now-6m", 360_000)
    assert (rule.interval, rule.interval_ms) == ("5m", 300_000)
    assert rule.max_signals == 100
    assert rule.version == 1
    assert rule.threat == ()
    assert (rule.tags, rule.references, rule.author) == ((), (), ())
    assert (rule.note, rule.license) == ("", "")
    assert isinstance(rule.parsed, EventQuery)
    assert rule.path == str(tmp_path / "rule.toml")


def test_load_rule_optional_fields(tmp_path: Path) -> None:
    """Override, tiebreaker, category override and building block are read."""
    text = MINIMAL.replace(
        'type = "eql"\n',
        'type = "eql"\ntimestamp_override = "event.ingested"\n'
        'tiebreaker_field = "event.sequence"\n'
        'event_category_override = "event.type"\n'
        'building_block_type = "default"\n',
    )
    rule = load_rule(write(tmp_path, text))
    assert rule.timestamp_override == "event.ingested"
    assert rule.tiebreaker_field == "event.sequence"
    assert rule.event_category_override == "event.type"
    assert rule.building_block_type == "default"


def test_load_rule_threat_with_subtechniques(tmp_path: Path) -> None:
    """Subtechniques are kept under their technique; absent ones are omitted."""
    text = MINIMAL + (
        "\n[[rule.threat]]\n"
        'framework = "MITRE ATT&CK"\n'
        "[[rule.threat.technique]]\n"
        'id = "T1"\nname = "One"\nreference = "https://t/1"\n'
        "[[rule.threat.technique.subtechnique]]\n"
        'id = "T1.001"\nname = "Sub"\nreference = "https://t/1/001"\n'
        "[[rule.threat.technique]]\n"
        'id = "T2"\nname = "Two"\nreference = "https://t/2"\n'
        "[rule.threat.tactic]\n"
        'id = "TA1"\nname = "Tactic"\nreference = "https://ta/1"\n'
    )
    (threat,) = load_rule(write(tmp_path, text)).threat
    assert threat["tactic"] == {
        "id": "TA1",
        "name": "Tactic",
        "reference": "https://ta/1",
    }
    first, second = threat["technique"]
    assert first["subtechnique"] == [
        {"id": "T1.001", "name": "Sub", "reference": "https://t/1/001"}
    ]
    assert "subtechnique" not in second


def test_load_rule_threat_without_tactic_points_at_its_table(tmp_path: Path) -> None:
    """A threat entry missing its tactic is located at its [[rule.threat]]."""
    text = MINIMAL + '\n[[rule.threat]]\nframework = "MITRE ATT&CK"\n'
    error = load_error(tmp_path, text)
    assert located(error) == position(text, "[[rule.threat]]")
    assert "threat.tactic" in error.message


def test_load_rule_query_on_the_key_line(tmp_path: Path) -> None:
    """`query = \"\"\"...\"\"\"` on one line loads the same query."""
    text = MINIMAL.replace(
        "query = '''\nprocess where process.name == \"x\"\n'''",
        'query = """process where process.name == "x\\\\\\\\y""""',
    )
    rule = load_rule(write(tmp_path, text))
    assert rule.query == 'process where process.name == "x\\\\y"'
    assert rule.parsed == EventQuery(
        "process", Comparison("==", Field("process.name"), Literal("x\\y"))
    )


# --- TOML and table errors --------------------------------------------------------


def test_load_rule_toml_syntax_error_keeps_its_position(tmp_path: Path) -> None:
    """A TOML syntax error is located where tomllib found it."""
    text = MINIMAL.replace('name = "X"', "name = X")
    error = load_error(tmp_path, text)
    assert located(error) == position(text, "X\n")
    assert error.message.startswith("invalid TOML: ")
    assert "(at line" not in error.message


def test_load_rule_toml_error_at_end_of_document(tmp_path: Path) -> None:
    """An unterminated string is located at the end of the file."""
    text = MINIMAL + 'note = """never closed\n'
    error = load_error(tmp_path, text)
    assert located(error) == (text.count("\n") + 1, 1)


def test_load_rule_without_rule_table(tmp_path: Path) -> None:
    """A file without [rule] is refused at 1:1."""
    error = load_error(tmp_path, '[metadata]\nmaturity = "production"\n')
    assert located(error) == (1, 1)
    assert "[rule]" in error.message


@pytest.mark.parametrize(
    "key",
    ["rule_id", "name", "description", "risk_score", "severity", "index", "query"],
)
def test_load_rule_missing_key_points_at_rule_header(tmp_path: Path, key: str) -> None:
    """A missing required key is located at the [rule] header."""
    lines = MINIMAL.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{key} ="))
    end = start + (3 if key == "query" else 1)
    text = "\n".join(lines[:start] + lines[end:])
    error = load_error(tmp_path, text)
    assert located(error) == position(text, "[rule]")
    assert error.message == f"[rule] has no `{key}`"


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ('name = "X"', "name = 3", "`name` must be a string, not an integer"),
        ("risk_score = 21", 'risk_score = "21"', "must be an integer, not a string"),
        ("risk_score = 21", "risk_score = 101", "from 0 to 100"),
        ("risk_score = 21", "risk_score = true", "an integer, not a boolean"),
        ('index = ["logs-*"]', 'index = "logs-*"', "an array of strings"),
        ('index = ["logs-*"]', "index = []", "must not be empty"),
        ('severity = "low"', 'severity = "urgent"', "one of low, medium"),
    ],
)
def test_load_rule_wrong_value_points_at_its_key(
    tmp_path: Path, old: str, new: str, words: str
) -> None:
    """A value of the wrong type or range is located at its key."""
    text = MINIMAL.replace(old, new)
    error = load_error(tmp_path, text)
    assert located(error) == position(text, new)
    assert words in error.message


def test_load_rule_bad_interval_points_at_its_key(tmp_path: Path) -> None:
    """An interval that is not a duration is located at `interval`."""
    text = MINIMAL.replace('type = "eql"\n', 'type = "eql"\n  interval = "5 minutes"\n')
    error = load_error(tmp_path, text)
    assert located(error) == position(text, "interval")
    assert "invalid duration" in error.message


def test_load_rule_lookback_shorter_than_interval_is_refused(tmp_path: Path) -> None:
    """`from` covering less than the interval is refused at `from`."""
    text = MINIMAL.replace(
        'type = "eql"\n', 'type = "eql"\nfrom = "now-1m"\ninterval = "5m"\n'
    )
    error = load_error(tmp_path, text)
    assert located(error) == position(text, "from =")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('language = "eql"', 'language = "kuery"'),
        ('type = "eql"', 'type = "query"'),
    ],
)
def test_load_rule_non_eql_rule_is_unsupported(
    tmp_path: Path, old: str, new: str
) -> None:
    """A rule of another language or type is refused as unsupported."""
    text = MINIMAL.replace(old, new)
    error = load_error(tmp_path, text)
    assert isinstance(error, UnsupportedError)
    assert located(error) == position(text, new)
    assert "not supported" in error.message


# --- Query errors located in the file ------------------------------------------


def test_load_rule_query_error_on_a_later_line(tmp_path: Path) -> None:
    """A query error is moved from the query's lines to the file's."""
    text = MINIMAL.replace(
        'process where process.name == "x"',
        'process where process.name == "x" and\n  process.pid = 4',
    )
    error = load_error(tmp_path, text)
    assert located(error) == position(text, "= 4")


def test_load_rule_query_error_on_the_first_line_after_the_quotes(
    tmp_path: Path,
) -> None:
    """On the key's line, the column counts from the start of the file line."""
    text = MINIMAL.replace(
        "query = '''\nprocess where process.name == \"x\"\n'''",
        "query = '''process where a = 1'''",
    )
    error = load_error(tmp_path, text)
    assert located(error) == position(text, "= 1")


def test_load_rule_query_error_through_toml_escapes(tmp_path: Path) -> None:
    """In a basic string, TOML escapes before the error shift its column."""
    text = MINIMAL.replace(
        "query = '''\nprocess where process.name == \"x\"\n'''",
        'query = """\nprocess where a == "C:\\\\\\\\x" and\\\n  b = 1"""',
    )
    error = load_error(tmp_path, text)
    assert located(error) == position(text, "= 1")


def test_load_rule_query_error_at_end_of_query(tmp_path: Path) -> None:
    """A query cut short is located after its last character in the file."""
    text = MINIMAL.replace('process.name == "x"', "process.name ==")
    error = load_error(tmp_path, text)
    line, column = position(text, "process.name ==")
    assert located(error) == (line, column + len("process.name =="))


def test_load_rule_unsupported_query_is_located(tmp_path: Path) -> None:
    """A refused construct keeps UnsupportedError and points into the file."""
    text = MINIMAL.replace(
        'process where process.name == "x"',
        "sequence by host.id\n  [process where true]\n  ![network where true]",
    )
    error = load_error(tmp_path, text)
    assert isinstance(error, UnsupportedError)
    assert located(error) == position(text, "![")


def test_load_rule_query_key_of_another_table_is_ignored(tmp_path: Path) -> None:
    """An osquery `query` in [[transform.osquery]] does not place errors."""
    text = MINIMAL.replace(
        "[rule]\n",
        '[transform]\n[[transform.osquery]]\nquery = "SELECT 1"\n\n[rule]\n',
    ).replace('process.name == "x"', 'process.name = "x"')
    error = load_error(tmp_path, text)
    assert located(error) == position(text, '= "x"')


# --- Folders ---------------------------------------------------------------------


def test_load_rules_collects_errors_and_keeps_going(tmp_path: Path) -> None:
    """A bad file is reported and the others still load, recursively, sorted."""
    write(tmp_path, MINIMAL.replace('"r-1"', '"r-b"'), "b.toml")
    write(tmp_path, MINIMAL.replace('"r-1"', '"r-a"'), "sub/a.toml")
    write(tmp_path, "not toml", "c.toml")
    write(tmp_path, MINIMAL, "notes.txt")
    rules, errors = load_rules(tmp_path)
    assert [rule.rule_id for rule in rules] == ["r-b", "r-a"]
    assert [error.path for error in errors] == [str(tmp_path / "c.toml")]


def test_load_rules_duplicate_rule_id_is_an_error(tmp_path: Path) -> None:
    """A rule_id already loaded is refused for the later file, at rule_id."""
    write(tmp_path, MINIMAL, "a.toml")
    write(tmp_path, MINIMAL, "b.toml")
    rules, errors = load_rules(tmp_path)
    assert [rule.path for rule in rules] == [str(tmp_path / "a.toml")]
    (error,) = errors
    assert error.path == str(tmp_path / "b.toml")
    assert located(error) == position(MINIMAL, "rule_id")
    assert "already used" in error.message


def test_load_rules_missing_folder_is_one_error(tmp_path: Path) -> None:
    """A folder that does not exist gives no rules and one error."""
    rules, errors = load_rules(tmp_path / "absent")
    assert rules == []
    assert [error.path for error in errors] == [str(tmp_path / "absent")]


def test_load_rules_project_folder_loads_cleanly() -> None:
    """Every rule shipped in rules/ loads."""
    rules, errors = load_rules(REPO / "rules")
    assert errors == []
    assert "c7894234-7814-44c2-92a9-f7d851ea246a" in {rule.rule_id for rule in rules}


def test_load_rule_unreadable_file_is_a_rule_error(tmp_path: Path) -> None:
    """A file that is not UTF-8 is a RuleError naming the path."""
    path = tmp_path / "bad.toml"
    path.write_bytes(b"\xff\xfe[rule]")
    with pytest.raises(RuleError) as info:
        load_rule(path)
    assert info.value.path == str(path)


def test_load_rule_call_names_survive_loading(tmp_path: Path) -> None:
    """The parsed query in a Rule is the parser's AST."""
    text = MINIMAL.replace(
        'process.name == "x"', 'not cidrMatch(destination.ip, "10.0.0.0/8")'
    )
    parsed = load_rule(write(tmp_path, text)).parsed
    assert isinstance(parsed, EventQuery)
    assert isinstance(parsed.condition, Not)
    assert isinstance(parsed.condition.operand, Call)
    assert parsed.condition.operand.name == "cidrmatch"


def test_load_rule_query_offset_places_query_positions(tmp_path: Path) -> None:
    """query_offset moves a later query-relative error to its file position."""
    rule = load_rule(write(tmp_path, MINIMAL))
    query_line, _ = position(MINIMAL, "process where")
    assert rule.query_offset == (query_line - 1, 0)

    # A compile error found in the parsed query, e.g. at `process.name`.
    error = RuleError("refused", line=1, column=15).at(rule.path, *rule.query_offset)
    assert located(error) == position(MINIMAL, "process.name")


def test_load_rule_query_offset_on_the_key_line(tmp_path: Path) -> None:
    """A query starting on the key's line has a column offset too."""
    text = MINIMAL.replace("query = '''\nprocess", "query = '''process")
    line, column = position(text, "process where")
    assert load_rule(write(tmp_path, text)).query_offset == (line - 1, column - 1)
