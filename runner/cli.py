"""The ``runner`` command line.

Every command prints its results on stdout (JSON lines where a program may
read them) and its diagnostics on stderr. Exit codes: 0 success, 1 a rule or
an execution failed, 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from runner import __version__
from runner.alerts.build import AlertContext
from runner.ecs import event_from_source
from runner.elastic.client import RetryPolicy, build_client
from runner.eql.compile import CompiledRule, compile_rule
from runner.eql.prefilter import explain_plan
from runner.errors import RuleError, RunnerError, SettingsError
from runner.events import Event
from runner.execution.daemon import run_daemon
from runner.execution.execute import alerts_for
from runner.execution.rule_runner import RuleRunner, Target
from runner.execution.window import window_ending
from runner.logs import configure_logging
from runner.matching.evaluate import evaluate
from runner.rules.datemath import parse_time
from runner.rules.loader import load_rule, load_rules
from runner.settings import Settings, load_settings

logger = logging.getLogger("runner")

Handler = Callable[[argparse.Namespace], int]


def _add_rule_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rule",
        metavar="ID|FILE",
        help="one rule: its rule_id in the rules folder, or a rule file (default: all)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every command."""
    parser = argparse.ArgumentParser(
        prog="runner",
        description="Run Elastic Security EQL detection rules against Elasticsearch.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser("run", help="the daemon: every rule on its schedule")

    once = commands.add_parser("run-once", help="one execution of each rule, now")
    _add_rule_option(once)
    once.add_argument("--at", metavar="TIME", help="end of the window (default now)")

    backfill = commands.add_parser("backfill", help="manual executions over a range")
    backfill.add_argument("--from", dest="start", metavar="TIME", required=True)
    backfill.add_argument("--to", dest="end", metavar="TIME", required=True)
    _add_rule_option(backfill)

    validate = commands.add_parser("validate", help="parse and compile rule files")
    validate.add_argument("paths", nargs="*", metavar="PATH")

    test_rule = commands.add_parser(
        "test-rule", help="evaluate a rule over NDJSON events, offline"
    )
    test_rule.add_argument("rule", metavar="RULE.toml")
    test_rule.add_argument("events", metavar="EVENTS.ndjson")
    test_rule.add_argument("--at", metavar="TIME", help="apply the window ending here")

    explain = commands.add_parser(
        "explain", help="print a rule's Elasticsearch query and client-side plan"
    )
    explain.add_argument("rule", metavar="RULE", help="a rule_id or a rule file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handlers: dict[str, Handler] = {
        "run": _run,
        "run-once": _run_once,
        "backfill": _backfill,
        "validate": _validate,
        "test-rule": _test_rule,
        "explain": _explain,
    }
    try:
        return handlers[args.command](args)
    except SettingsError as exc:
        print(f"runner: {exc}", file=sys.stderr)
        return 2
    except (RunnerError, ValueError) as exc:
        print(f"runner: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader left early (`runner explain … | head`): not an error of
        # ours. Point stdout at /dev/null so the exit flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _settings() -> Settings:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _time(text: str) -> int:
    moment = parse_time(text, datetime.now(tz=UTC))
    return int(moment.timestamp() * 1000)


def _runner(settings: Settings) -> RuleRunner:
    return RuleRunner(
        build_client(settings),
        Target(settings.alerts_index, settings.state_index),
        RetryPolicy(),
    )


def _compiled_rules(settings: Settings, selector: str | None) -> list[CompiledRule]:
    """Load and compile the selected rules; report and skip the bad ones."""
    if selector is not None and Path(selector).is_file():
        return [compile_rule(load_rule(Path(selector)))]
    rules, errors = load_rules(settings.rules_dir)
    compiled: list[CompiledRule] = []
    for rule in rules:
        try:
            compiled.append(compile_rule(rule))
        except RuleError as exc:
            errors.append(exc)
    for error in errors:
        logger.error("refused rule %s", error)
    if selector is not None:
        compiled = [c for c in compiled if c.rule.rule_id == selector]
        if not compiled:
            raise RunnerError(f"no rule {selector!r} in {settings.rules_dir}")
    if not compiled:
        raise RunnerError(f"no usable rule in {settings.rules_dir}")
    return compiled


def _run(args: argparse.Namespace) -> int:
    settings = _settings()
    return run_daemon(_runner(settings), _compiled_rules(settings, None))


def _run_once(args: argparse.Namespace) -> int:
    settings = _settings()
    runner = _runner(settings)
    end_ms = None if args.at is None else _time(args.at)
    failed = False
    for compiled in _compiled_rules(settings, args.rule):
        try:
            result = runner.run_once(compiled, end_ms)
        except Exception:
            logger.exception("rule %s: execution failed", compiled.rule.rule_id)
            failed = True
            continue
        print(json.dumps(result.as_dict()), flush=True)
    return 1 if failed else 0


def _backfill(args: argparse.Namespace) -> int:
    settings = _settings()
    runner = _runner(settings)
    start_ms, end_ms = _time(args.start), _time(args.end)
    progress = _Progress(sys.stderr)
    for compiled in _compiled_rules(settings, args.rule):
        rule_id = compiled.rule.rule_id
        for done, total, result in runner.backfill(compiled, start_ms, end_ms):
            progress.show(rule_id, done, total)
            print(json.dumps(result.as_dict()), flush=True)
        progress.finish()
    return 0


class _Progress:
    """A one-line progress bar, drawn only on a terminal."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.active = stream.isatty()

    def show(self, label: str, done: int, total: int) -> None:
        if not self.active:
            return
        filled = self.width * done // total
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{label[:36]} [{bar}] {done}/{total} windows")
        self.stream.flush()

    def finish(self) -> None:
        if self.active:
            self.stream.write("\n")


def _rule_files(paths: Sequence[str]) -> Iterator[Path]:
    for name in paths:
        path = Path(name)
        if path.is_dir():
            yield from sorted(path.rglob("*.toml"))
        else:
            yield path


def _validate(args: argparse.Namespace) -> int:
    paths = args.paths or [str(load_settings().rules_dir)]
    failed = 0
    for path in _rule_files(paths):
        try:
            compile_rule(load_rule(path))
        except RuleError as exc:
            failed += 1
            located = exc if exc.path is not None else exc.at(str(path))
            print(located)
            continue
        print(f"{path}: ok")
    return 1 if failed else 0


def _explain(args: argparse.Namespace) -> int:
    path = Path(args.rule)
    if path.is_file():
        compiled = compile_rule(load_rule(path))
    else:
        compiled = _compiled_rules(load_settings(), args.rule)[0]
    rule = compiled.rule
    print(f"# {rule.name} ({rule.rule_id})")
    print(f"# indices: {', '.join(rule.index)}")
    print(f"# fields fetched: {', '.join(compiled.fields)}")
    print("# Elasticsearch prefilter query:")
    print(json.dumps(compiled.prefilter, indent=2, sort_keys=True))
    print("# client-side plan:")
    print(explain_plan(rule.parsed))
    return 0


def _read_events(path: Path) -> tuple[list[Event], dict[tuple[str, str], Any]]:
    """Read NDJSON events: bare documents or hits with _index/_id/_source."""
    events: list[Event] = []
    sources: dict[tuple[str, str], Any] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                if not isinstance(doc, dict):
                    raise ValueError("not a JSON object")
                source = doc.get("_source", doc)
                index = str(doc.get("_index", path.name))
                doc_id = str(doc.get("_id", number))
                event = event_from_source(source, index, doc_id)
            except (ValueError, KeyError, TypeError) as exc:
                print(f"{path}:{number}: skipped: {exc}", file=sys.stderr)
                continue
            events.append(event)
            sources[(event.index, event.id)] = source
    return events, sources


def _test_rule(args: argparse.Namespace) -> int:
    compiled = compile_rule(load_rule(Path(args.rule)))
    rule = compiled.rule
    events, sources = _read_events(Path(args.events))
    if args.at is not None:
        at_ms = _time(args.at)
        window = window_ending(at_ms, rule.lookback_ms)
        events = [e for e in events if window.start_ms <= e.timestamp <= window.end_ms]
    else:
        at_ms = max((e.timestamp for e in events), default=0)
    events.sort(key=Event.order_key)

    evaluation = evaluate(compiled.plan, events, rule.max_signals)
    # Deterministic execution fields: the same inputs print the same bytes.
    context = AlertContext(
        execution_ms=at_ms,
        execution_type="scheduled",
        execution_uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{rule.rule_id}/{at_ms}")),
    )
    for doc_id, source in alerts_for(compiled, evaluation, sources, context):
        print(json.dumps({"_id": doc_id, "_source": source}, sort_keys=True))
    print(
        f"events={evaluation.events_scanned} sequences={evaluation.sequences} "
        f"truncated={evaluation.truncated}",
        file=sys.stderr,
    )
    return 0
