"""The command line's offline commands: help, validate, test-rule and explain."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runner import cli, samples
from runner.alerts.build import AlertContext, build_alerts, sequence_id
from runner.cli import main
from runner.ecs import event_from_source
from runner.events import Event
from runner.rules.loader import load_rule

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "rules"
DLLHOST = RULES / "defense_evasion_unusual_network_connection_via_dllhost.toml"
CORPUS = REPO.parent / "shared/corpus/detection-rules"

# Rules of the corpus that validate cleanly; raise it as the runner learns
# more EQL, never lower it.
CORPUS_OK_FLOOR = 1074
REFUSED_CONSTRUCTS = ("sample", "missing-event", "pipes")

SECOND = 1_000
MINUTE = 60 * SECOND
T0 = int(datetime(2026, 12, 1, 10, 0, tzinfo=UTC).timestamp() * 1000)

PROCESS_INDEX = ".ds-logs-endpoint.events.process-default-2026.12.01-000001"
NETWORK_INDEX = ".ds-logs-endpoint.events.network-default-2026.12.01-000001"

Line = dict[str, Any] | str

RUN_COMMANDS = ("run", "run-once", "backfill", "validate", "test-rule", "explain")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI and return its exit code, stdout and stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def hit(index: str, doc_id: str, source: dict[str, Any]) -> dict[str, Any]:
    """Return ``source`` wrapped as an Elasticsearch hit."""
    return {"_index": index, "_id": doc_id, "_source": source}


def write_ndjson(path: Path, lines: Sequence[Line]) -> Path:
    """Write one line per entry: a document as JSON, a string as it is."""
    text = "".join(
        (line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines
    )
    path.write_text(text, encoding="utf-8")
    return path


def pair(
    host: str, process_ms: int, network_ms: int, destination: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return a dllhost.exe start and its outbound connection on ``host``."""
    entity = f"entity-{host}"
    start = samples.defend_process_start(process_ms, host, entity, sequence=1)
    connect = samples.defend_network(network_ms, host, entity, destination, sequence=2)
    return start, connect


def alerts(stdout: str) -> list[dict[str, Any]]:
    """Parse test-rule's stdout: one alert hit a line."""
    return [json.loads(line) for line in stdout.splitlines()]


def ancestor_hosts(docs: Sequence[dict[str, Any]]) -> set[str]:
    """Return the host.id of every parent alert."""
    return {
        doc["_source"]["host"]["id"]
        for doc in docs
        if "kibana.alert.group.index" not in doc["_source"]
    }


def position(text: str, needle: str) -> tuple[int, int]:
    """Return the 1-based line and column of ``needle`` in ``text``."""
    index = text.index(needle)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


# --- help -------------------------------------------------------------------


def test_main_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """`--help` lists the six commands and exits 0."""
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in RUN_COMMANDS:
        assert re.search(rf"^\s+{re.escape(command)}\s", out, re.MULTILINE), command


def test_main_without_command_prints_help_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No command is bad usage: the help is printed and the exit code is 2."""
    code, out, _ = run(capsys)
    assert code == 2
    assert "validate" in out


def test_main_bad_setting_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A command needing settings reports a bad one on stderr and exits 2."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ES_URL", "localhost:9200")
    code, out, err = run(capsys, "run-once")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("runner: bad setting: ES_URL")


# --- validate ---------------------------------------------------------------


def test_validate_project_rules_ok(capsys: pytest.CaptureFixture[str]) -> None:
    """The project's rules folder validates: one `PATH: ok` line, exit 0."""
    code, out, _ = run(capsys, "validate", str(RULES))
    assert code == 0
    assert out.splitlines() == [f"{DLLHOST}: ok"]


def test_validate_defaults_to_rules_dir(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Without a path, validate reads RULES_DIR."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RULES_DIR", str(RULES))
    code, out, _ = run(capsys, "validate")
    assert code == 0
    assert out.splitlines() == [f"{DLLHOST}: ok"]


def _toml_error(text: str) -> tuple[str, str, str]:
    broken = text.replace("risk_score = 47\n", "risk_score = 47 47\n")
    line, column = position(broken, "risk_score = 47 47")
    return broken, f"{line}:{column + len('risk_score = 47 ')}", "invalid TOML: "


def _query_error(text: str) -> tuple[str, str, str]:
    broken = text.replace("args_count == 1]", "args_count == = 1]")
    line, column = position(broken, "== = 1]")
    message = "`=` is not an EQL comparison"
    return broken, f"{line}:{column + len('== ')}", message


def _sample_query(text: str) -> tuple[str, str, str]:
    start = text.index("query = '''\n") + len("query = '''\n")
    end = text.index("'''", start)
    query = "sample by host.id\n  [process where true]\n  [network where true]\n"
    broken = text[:start] + query + text[end:]
    line, column = position(broken, "sample by")
    return broken, f"{line}:{column}", "`sample` queries are not supported"


@pytest.mark.parametrize(
    "breaker",
    [_toml_error, _query_error, _sample_query],
    ids=["toml-syntax", "query-syntax", "sample"],
)
def test_validate_reports_broken_file_at_line_and_column(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    breaker: Callable[[str], tuple[str, str, str]],
) -> None:
    """A broken file prints `PATH:LINE:COL: message`, the good one `ok`, exit 1."""
    text = DLLHOST.read_text(encoding="utf-8")
    good = tmp_path / "a_good.toml"
    good.write_text(text, encoding="utf-8")
    broken_text, location, message = breaker(text)
    assert broken_text != text
    bad = tmp_path / "b_bad.toml"
    bad.write_text(broken_text, encoding="utf-8")

    code, out, _ = run(capsys, "validate", str(tmp_path))

    assert code == 1
    first, second = out.splitlines()
    assert first == f"{good}: ok"
    assert second.startswith(f"{bad}:{location}: {message}")


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the rule corpus is not at {CORPUS}")
def test_validate_corpus_compiles_all_but_refused_constructs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every corpus rule compiles, except the sample/missing-event/pipe ones."""
    code, out, _ = run(capsys, "validate", str(CORPUS))
    lines = out.splitlines()
    ok = [line for line in lines if line.endswith(": ok")]
    refused = [line for line in lines if not line.endswith(": ok")]
    assert len(ok) >= CORPUS_OK_FLOOR
    for line in refused:
        assert any(word in line for word in REFUSED_CONSTRUCTS), line
    assert code == (1 if refused else 0)


# --- test-rule ----------------------------------------------------------------


def _scenario(tmp_path: Path) -> tuple[Path, list[Line]]:
    """A true positive, a private pair, a late pair and two bad lines."""
    tp_start, tp_connect = pair("host-tp", T0, T0 + 10 * SECOND, "8.8.8.8")
    private_start, private_connect = pair(
        "host-private", T0 + SECOND, T0 + 5 * SECOND, "10.1.2.3"
    )
    late_start, late_connect = pair(
        "host-late", T0 + 2 * SECOND, T0 + 63 * SECOND, "8.8.8.8"
    )
    no_time = samples.defend_process_start(T0, "host-x", "entity-x")
    del no_time["@timestamp"]
    lines: list[Line] = [
        hit(PROCESS_INDEX, "p-tp", tp_start),
        tp_connect,
        "this is not JSON",
        private_start,
        hit(NETWORK_INDEX, "n-private", private_connect),
        no_time,
        hit(PROCESS_INDEX, "p-late", late_start),
        late_connect,
    ]
    return write_ndjson(tmp_path / "events.ndjson", lines), lines


def _expected_alerts(
    path: Path, lines: Sequence[Line], at_ms: int
) -> list[tuple[str, dict[str, Any]]]:
    """Build the true positive's alerts directly, for comparison."""
    rule = load_rule(DLLHOST)
    first, second = lines[0], lines[1]
    assert isinstance(first, dict)
    assert isinstance(second, dict)
    events = [
        event_from_source(first["_source"], PROCESS_INDEX, "p-tp"),
        event_from_source(second, path.name, "2"),
    ]
    sources = {
        (PROCESS_INDEX, "p-tp"): first["_source"],
        (path.name, "2"): second,
    }
    context = AlertContext(at_ms, "scheduled", "placeholder")
    return build_alerts(rule, events, sources, context)


def test_test_rule_prints_true_positive_alerts_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Only the public connection alerts: a parent and two building blocks."""
    path, lines = _scenario(tmp_path)

    code, out, err = run(capsys, "test-rule", str(DLLHOST), str(path))

    assert code == 0
    docs = alerts(out)
    latest = T0 + 63 * SECOND
    expected = _expected_alerts(path, lines, latest)
    assert [doc["_id"] for doc in docs] == [doc_id for doc_id, _ in expected]
    uuids = {doc["_source"].pop("kibana.alert.rule.execution.uuid") for doc in docs}
    assert len(uuids) == 1
    for doc, (_, source) in zip(docs, expected, strict=True):
        source.pop("kibana.alert.rule.execution.uuid")
        assert doc["_source"] == json.loads(json.dumps(source))
        assert doc["_source"]["@timestamp"] == samples.iso(latest)
        assert doc["_source"]["host"]["id"] == "host-tp"
    assert docs[0]["_source"]["kibana.alert.ancestors"] == [
        {"id": "p-tp", "index": PROCESS_INDEX, "type": "event", "depth": 0},
        {"id": "2", "index": "events.ndjson", "type": "event", "depth": 0},
    ]
    assert "events=6 sequences=1" in err


def test_test_rule_ids_are_sequence_ids(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Alert ids hash the rule id and the events' (index, id) pairs."""
    path, _ = _scenario(tmp_path)
    _, out, _ = run(capsys, "test-rule", str(DLLHOST), str(path))
    rule_id = load_rule(DLLHOST).rule_id
    events = [
        Event(PROCESS_INDEX, "p-tp", T0, 1, {}),
        Event("events.ndjson", "2", T0 + 10 * SECOND, 2, {}),
    ]
    assert [doc["_id"] for doc in alerts(out)] == [
        sequence_id(rule_id, events, None),
        sequence_id(rule_id, events, 0),
        sequence_id(rule_id, events, 1),
    ]


def test_test_rule_reports_and_skips_bad_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A non-JSON line and a document without @timestamp are named on stderr."""
    path, _ = _scenario(tmp_path)

    code, out, err = run(capsys, "test-rule", str(DLLHOST), str(path))

    assert code == 0
    skipped = [line for line in err.splitlines() if "skipped" in line]
    assert len(skipped) == 2
    assert skipped[0].startswith(f"{path}:3: skipped: ")
    assert skipped[1].startswith(f"{path}:6: skipped: ")
    assert "@timestamp is missing" in skipped[1]
    assert len(alerts(out)) == 3


def test_test_rule_output_is_byte_identical_across_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The same rule and events print the same bytes twice."""
    path, _ = _scenario(tmp_path)
    _, first, _ = run(capsys, "test-rule", str(DLLHOST), str(path))
    _, second, _ = run(capsys, "test-rule", str(DLLHOST), str(path))
    assert first
    assert first == second


def _window_edges(tmp_path: Path, at_ms: int) -> Path:
    """A pair starting at the window start, and one a millisecond earlier."""
    start_ms = at_ms - 9 * MINUTE
    inside = pair("host-edge", start_ms, start_ms + 10 * SECOND, "8.8.8.8")
    outside = pair("host-before", start_ms - 1, start_ms + 10 * SECOND, "8.8.8.8")
    return write_ndjson(tmp_path / "edges.ndjson", [*inside, *outside])


def test_test_rule_at_window_start_is_inclusive(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With --at, an event at at-9m counts and one at at-9m-1ms does not."""
    at_ms = T0 + 30 * MINUTE
    path = _window_edges(tmp_path, at_ms)

    code, out, _ = run(
        capsys, "test-rule", str(DLLHOST), str(path), "--at", "2026-12-01T10:30:00Z"
    )

    assert code == 0
    docs = alerts(out)
    assert len(docs) == 3
    assert ancestor_hosts(docs) == {"host-edge"}
    assert {doc["_source"]["@timestamp"] for doc in docs} == {samples.iso(at_ms)}


def test_test_rule_without_at_applies_no_window(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Without --at, both edge pairs match: the --at window made the difference."""
    path = _window_edges(tmp_path, T0 + 30 * MINUTE)
    _, out, _ = run(capsys, "test-rule", str(DLLHOST), str(path))
    assert ancestor_hosts(alerts(out)) == {"host-edge", "host-before"}


def test_test_rule_coerces_values_as_elasticsearch_indexes_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """args_count "1" matches ``== 1``; ::ffff:10.1.2.3 is inside 10.0.0.0/8."""
    string_count = pair("host-string", T0, T0 + SECOND, "8.8.8.8")
    string_count[0]["process"]["args_count"] = "1"
    mapped = pair("host-mapped", T0, T0 + SECOND, "::ffff:10.1.2.3")
    path = write_ndjson(tmp_path / "coerce.ndjson", [*string_count, *mapped])

    code, out, _ = run(capsys, "test-rule", str(DLLHOST), str(path))

    assert code == 0
    docs = alerts(out)
    assert len(docs) == 3
    assert ancestor_hosts(docs) == {"host-string"}


# --- explain ------------------------------------------------------------------


def _explain_parts(out: str) -> tuple[dict[str, Any], str]:
    """Split explain's output into the prefilter query and the plan text."""
    head, _, rest = out.partition("# Elasticsearch prefilter query:\n")
    query_text, _, plan = rest.partition("# client-side plan:\n")
    assert head
    assert plan
    query: dict[str, Any] = json.loads(query_text)
    return query, plan


def _category_terms(query: dict[str, Any]) -> list[str]:
    return [
        clause["term"]["event.category"]
        for should in query["bool"]["should"]
        for clause in should["bool"]["filter"]
        if "event.category" in clause.get("term", {})
    ]


def test_explain_prints_prefilter_and_plan(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The prefilter names both categories; cidrmatch runs client-side."""
    code, out, _ = run(capsys, "explain", str(DLLHOST))

    assert code == 0
    query, plan = _explain_parts(out)
    assert _category_terms(query) == ["process", "network"]
    client_side = plan.partition("client-side only:")[2]
    assert "cidrmatch(destination.ip" in client_side.lower()


def test_explain_finds_rule_by_id(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A rule_id is looked up in RULES_DIR."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RULES_DIR", str(RULES))
    rule = load_rule(DLLHOST)
    code, out, _ = run(capsys, "explain", rule.rule_id)
    assert code == 0
    assert out.startswith(f"# {rule.name} ({rule.rule_id})\n")


class _Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_draws_bar_on_terminal_only() -> None:
    """Backfill's progress bar is drawn on a terminal and nowhere else."""
    terminal = _Terminal()
    bar = cli._Progress(terminal, width=10)
    bar.show("rule-1", 3, 10)
    bar.finish()
    assert terminal.getvalue() == "\rrule-1 [###.......] 3/10 windows\n"

    piped = io.StringIO()
    quiet = cli._Progress(piped, width=10)
    quiet.show("rule-1", 3, 10)
    quiet.finish()
    assert piped.getvalue() == ""


def test_explain_reader_leaving_early_is_not_an_error() -> None:
    """`runner explain RULE | head -1` exits 0 without a traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", "explain", str(DLLHOST)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    error = process.stderr.read()
    code = process.wait(timeout=60)

    assert first.startswith(b"# Unusual Network Connection via DllHost")
    assert code == 0
    assert b"Traceback" not in error
