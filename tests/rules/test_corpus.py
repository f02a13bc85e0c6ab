"""Compatibility with Elastic's prebuilt EQL rules (../shared/corpus).

Every rule of the corpus must either load or be refused for a construct the
runner does not evaluate; a syntax error on a corpus rule is a grammar bug.
"""

from __future__ import annotations

import collections
import re
import time
import tomllib
from pathlib import Path

import pytest

from runner.eql.ast import Sequence
from runner.eql.parser import parse_query
from runner.errors import RuleError, UnsupportedError
from runner.rules.loader import load_rule
from runner.rules.model import Rule

CORPUS = Path(__file__).parents[2].parent / "shared/corpus/detection-rules"

CORPUS_SIZE = 1081
# Raise these when the runner learns more of the language; never lower them.
LOADABLE_FLOOR = 1074
REFUSED_BY_CONSTRUCT = {"sample": 3, "missing-event": 2, "pipe": 2}
# Measured at about 2 s; the bound only catches a pathological slowdown.
PARSE_SECONDS_BOUND = 10.0

EQL_LANGUAGE = re.compile(r'^language = "eql"$', re.MULTILINE)

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"the rule corpus is not at {CORPUS}"
)


def construct(error: UnsupportedError) -> str:
    """Name the refused construct of an UnsupportedError."""
    for name, words in (
        ("sample", "`sample` queries"),
        ("missing-event", "missing-event stages"),
        ("pipe", "pipes are not supported"),
    ):
        if words in error.message:
            return name
    return error.message


@pytest.fixture(scope="module")
def corpus_files() -> list[Path]:
    """The corpus's EQL rule files, in path order."""
    files = sorted(CORPUS.rglob("*.toml"))
    return [path for path in files if EQL_LANGUAGE.search(path.read_text("utf-8"))]


@pytest.fixture(scope="module")
def outcome(
    corpus_files: list[Path],
) -> tuple[list[Rule], list[UnsupportedError], list[RuleError]]:
    """Every corpus file loaded: the rules, the refusals, the other errors."""
    rules: list[Rule] = []
    refused: list[UnsupportedError] = []
    failed: list[RuleError] = []
    for path in corpus_files:
        try:
            rules.append(load_rule(path))
        except UnsupportedError as exc:
            refused.append(exc)
        except RuleError as exc:
            failed.append(exc)
    return rules, refused, failed


def test_corpus_has_every_eql_rule(corpus_files: list[Path]) -> None:
    """The corpus holds its 1,081 EQL rules."""
    assert len(corpus_files) == CORPUS_SIZE


def test_corpus_no_rule_fails_to_load(
    outcome: tuple[list[Rule], list[UnsupportedError], list[RuleError]],
) -> None:
    """No corpus rule fails with a syntax or validation error."""
    _, _, failed = outcome
    assert [str(error) for error in failed] == []


def test_corpus_loadable_count_does_not_fall(
    outcome: tuple[list[Rule], list[UnsupportedError], list[RuleError]],
) -> None:
    """At least LOADABLE_FLOOR corpus rules load."""
    rules, refused, _ = outcome
    assert len(rules) >= LOADABLE_FLOOR, f"{len(rules)} load, {len(refused)} refused"
    assert len(rules) + len(refused) == CORPUS_SIZE


def test_corpus_refusals_are_the_known_constructs(
    outcome: tuple[list[Rule], list[UnsupportedError], list[RuleError]],
) -> None:
    """Refusals are sample, missing-event stages and pipes, in known numbers."""
    _, refused, _ = outcome
    counts = collections.Counter(construct(error) for error in refused)
    assert dict(counts) == REFUSED_BY_CONSTRUCT


def test_corpus_refusals_point_into_the_file(
    outcome: tuple[list[Rule], list[UnsupportedError], list[RuleError]],
) -> None:
    """Each refusal's line and column land on the refused construct's text."""
    _, refused, _ = outcome
    starts = {"sample": "sample", "missing-event": "![", "pipe": "|"}
    for error in refused:
        assert error.path is not None
        assert error.line is not None
        assert error.column is not None
        line = Path(error.path).read_text("utf-8").split("\n")[error.line - 1]
        assert line[error.column - 1 :].startswith(starts[construct(error)])


def test_corpus_some_loadable_rule_uses_runs(
    outcome: tuple[list[Rule], list[UnsupportedError], list[RuleError]],
) -> None:
    """At least one loadable sequence repeats a stage `with runs`."""
    rules, _, _ = outcome
    with_runs = [
        rule
        for rule in rules
        if isinstance(rule.parsed, Sequence)
        and any(stage.runs > 1 for stage in rule.parsed.stages)
    ]
    assert with_runs


def test_corpus_parse_is_fast(corpus_files: list[Path]) -> None:
    """Parsing every corpus query takes seconds, not more."""
    queries = [
        tomllib.loads(path.read_text("utf-8"))["rule"]["query"] for path in corpus_files
    ]
    started = time.perf_counter()
    for query in queries:
        try:
            parse_query(query)
        except UnsupportedError:
            continue
    elapsed = time.perf_counter() - started
    assert elapsed < PARSE_SECONDS_BOUND, f"{len(queries)} queries in {elapsed:.1f} s"
