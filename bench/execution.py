"""Benchmark one execution of the DllHost rule against a bare point-in-time fetch.

Three parts, printed as they finish:

1. Data: ``--events`` realistic ECS documents (default a million) in the four
   index families the rule reads, all inside one 9-minute window, under the
   namespace ``bench<N>e``. About 1% of them involve ``dllhost.exe``. A rerun
   finds them there and skips indexing; an interrupted one resumes, since the
   documents and their ids are the same every time.
2. Time: one full execution (fetch, match, mget, alerts created: each
   repetition runs under a rule id of its own, so its alerts are new) against
   a bare point-in-time fetch of the same prefilter, fields, sort and page
   size, alternated after one warm-up each; medians and their ratio.
3. Memory: peak RSS (``VmHWM``) of one execution at N/10 and N hits, each in
   a fresh child process, with a rule variant whose prefilter keeps every
   event, against a child that only imports the runner and opens a client.

Usage: ``.venv/bin/python bench/execution.py [--events N] [--quick]``; the
cluster is ``ES_URL`` (default ``http://127.0.0.1:9200``).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch, helpers

from runner import samples
from runner.elastic.client import RetryPolicy, build_client
from runner.elastic.fetch import PIT_KEEP_ALIVE, FetchRequest, FetchStats, stream_events
from runner.eql.compile import CompiledRule, compile_rule
from runner.eql.prefilter import query_prefilter
from runner.execution.execute import ExecutionResult, fetch_request
from runner.execution.rule_runner import RuleRunner, Target
from runner.execution.window import Window
from runner.rules.loader import load_rule
from runner.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
RULE_FILE = (
    ROOT / "rules" / "defense_evasion_unusual_network_connection_via_dllhost.toml"
)

FULL_EVENTS = 1_000_000
QUICK_EVENTS = 100_000
END_MS = int(datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp() * 1000)
LOOKBACK_MS = 9 * 60_000
START_MS = END_MS - LOOKBACK_MS

SEED = 2026
HOSTS = 1000
# A dllhost activity yields about 3 events, any other about 5: one activity
# in 60 puts about 1% of the events on dllhost.exe.
DLLHOST_SHARE = 1 / 60
DEFEND = "defend"
PRODUCERS = (DEFEND, samples.SYSMON, samples.WINLOGBEAT)
PRODUCER_WEIGHTS = (5, 3, 2)
OTHER_PROCESSES = (
    "svchost.exe",
    "chrome.exe",
    "msedge.exe",
    "explorer.exe",
    "OneDrive.exe",
    "Teams.exe",
    "powershell.exe",
    "WmiPrvSE.exe",
    "RuntimeBroker.exe",
    "OUTLOOK.EXE",
)
PUBLIC_PREFIXES = ("13.107", "20.190", "52.96", "104.16", "142.250", "151.101")
PRIVATE_PREFIXES = ("10.20", "10.1", "192.168.1", "172.16.5", "127.0.0")

MEMORY_QUERY = (
    "sequence by host.id, process.entity_id with maxspan=1m\n"
    '  [any where event.type == "start"]\n'
    '  [any where not cidrmatch(destination.ip, "10.0.0.0/8")]\n'
)

Document = dict[str, Any]
Action = dict[str, Any]
Emitted = tuple[str, Document]
Planned = tuple[int, Callable[[int], Emitted]]
"""An event's time and the builder of its family and document."""


# --- Data ------------------------------------------------------------------------


@dataclass(frozen=True)
class Process:
    """One process on one host, as one producer reports it."""

    producer: str
    host: str
    entity: str
    name: str
    pid: int

    def start(self, ms: int, args: list[str]) -> Emitted:
        """Return the family and document of the process's start."""
        if self.producer == DEFEND:
            doc = samples.defend_process_start(
                ms,
                self.host,
                self.entity,
                name=self.name,
                args=args,
                pid=self.pid,
                sequence=ms - START_MS,
            )
            return samples.DEFEND_PROCESS, doc
        doc = samples.sysmon_process_create(
            ms,
            self.host,
            self.entity,
            name=self.name,
            args=args,
            pid=self.pid,
            flavor=self.producer,
        )
        return self.producer, doc

    def connect(self, ms: int, ip: str) -> Emitted:
        """Return the family and document of an outbound connection."""
        if self.producer == DEFEND:
            doc = samples.defend_network(
                ms, self.host, self.entity, ip, name=self.name, pid=self.pid
            )
            doc["event"]["sequence"] = ms - START_MS
            return samples.DEFEND_NETWORK, doc
        doc = samples.sysmon_network(
            ms,
            self.host,
            self.entity,
            ip,
            name=self.name,
            pid=self.pid,
            flavor=self.producer,
        )
        return self.producer, doc


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128))).upper()


def _process(rng: random.Random, host: str, name: str) -> Process:
    producer = rng.choices(PRODUCERS, PRODUCER_WEIGHTS)[0]
    if producer == DEFEND:
        entity = f"{rng.getrandbits(192):048x}"
    else:
        entity = "{" + _guid(rng) + "}"
    return Process(producer, host, entity, name, rng.randrange(100, 60_000))


def _ip(rng: random.Random, public_share: float) -> str:
    if rng.random() < public_share:
        prefix = rng.choice(PUBLIC_PREFIXES)
        return f"{prefix}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    prefix = rng.choice(PRIVATE_PREFIXES)
    tail = ".".join(
        str(rng.randrange(1, 255)) for _ in range(4 - prefix.count(".") - 1)
    )
    return f"{prefix}.{tail}"


def _dllhost(rng: random.Random, host: str, started: int) -> list[Planned]:
    """A dllhost.exe start, args_count 1 or 2, then one to three connections.

    Some connections come more than a minute after the start (no sequence),
    about half go to public addresses (a sequence when args_count is 1).
    """
    process = _process(rng, host, "dllhost.exe")
    args = [] if rng.random() < 0.5 else [f"/Processid:{{{_guid(rng)}}}"]
    planned: list[Planned] = [(started, partial(process.start, args=args))]
    for _ in range(rng.randint(1, 3)):
        late = rng.random() < 0.3
        offset = rng.randint(61_000, 120_000) if late else rng.randint(200, 59_000)
        planned.append((started + offset, partial(process.connect, ip=_ip(rng, 0.5))))
    return planned


def _other(rng: random.Random, host: str, started: int) -> list[Planned]:
    """Another process's start and up to eight connections in five minutes."""
    process = _process(rng, host, rng.choice(OTHER_PROCESSES))
    args = ["--type=renderer"] if rng.random() < 0.5 else []
    planned: list[Planned] = [(started, partial(process.start, args=args))]
    for _ in range(rng.randint(0, 8)):
        offset = rng.randint(50, 300_000)
        planned.append((started + offset, partial(process.connect, ip=_ip(rng, 0.6))))
    return planned


def generate(namespace: str, total: int) -> Iterator[Action]:
    """Yield ``total`` bulk ``create`` actions, the same ones on every call.

    Activities start up to five minutes before the window, so that events
    are spread evenly over it; events outside the window are not emitted.
    """
    rng = random.Random(SEED)
    hosts = [f"{rng.getrandbits(128):032x}" for _ in range(HOSTS)]
    emitted = 0
    while True:
        host = rng.choice(hosts)
        started = rng.randint(START_MS - 300_000, END_MS)
        activity = _dllhost if rng.random() < DLLHOST_SHARE else _other
        for ms, build in activity(rng, host, started):
            if not START_MS <= ms <= END_MS:
                continue
            family, doc = build(ms)
            yield {
                "_op_type": "create",
                "_index": samples.data_stream_name(family, namespace),
                "_id": f"{emitted:08d}",
                "_source": doc,
            }
            emitted += 1
            if emitted == total:
                return


def streams(namespace: str) -> str:
    """Return the namespace's four data streams, comma-separated."""
    return ",".join(samples.data_stream_name(f, namespace) for f in samples.FAMILIES)


def count(es: Elasticsearch, index: str, query: dict[str, Any] | None = None) -> int:
    """Return how many documents ``query`` matches, 0 when nothing exists."""
    es.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
    found = es.count(
        index=index,
        query=query or {"match_all": {}},
        ignore_unavailable=True,
        allow_no_indices=True,
    )
    return int(found["count"])


def ensure_data(es: Elasticsearch, namespace: str, total: int) -> None:
    """Index the namespace's events unless exactly ``total`` are there."""
    for name, body in samples.source_templates(namespace).items():
        es.indices.put_index_template(name=name, **body)
    present = count(es, streams(namespace))
    if present == total:
        print(f"data: {total:,} events already in namespace {namespace}; skipped")
        return

    started = time.perf_counter()
    created, existing = index_events(es, namespace, total)
    es.indices.refresh(index=streams(namespace))
    elapsed = time.perf_counter() - started

    print(
        f"data: indexed {created:,} events into namespace {namespace} "
        f"({existing:,} were there) in {elapsed:.1f} s "
        f"({created / elapsed:,.0f}/s, refresh included)"
    )
    final = count(es, streams(namespace))
    if final != total:
        raise SystemExit(f"namespace {namespace} holds {final:,} events, not {total:,}")


@dataclass
class Tally:
    """What bulk ``create`` made of the events: created, there, refused."""

    created: int = 0
    existing: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, results: Iterable[tuple[bool, dict[str, Any]]]) -> None:
        """Count the per-item results of a bulk helper."""
        for ok, item in results:
            status = item["create"]["status"]
            if ok:
                self.created += 1
            elif status == 409:
                self.existing += 1
            elif len(self.failures) < 3:
                self.failures.append(json.dumps(item["create"].get("error")))


def index_events(es: Elasticsearch, namespace: str, total: int) -> tuple[int, int]:
    """Bulk-create the events; return how many were created and already there.

    A first small bulk creates the data streams; their refresh is then off
    until the end, which made indexing about 1.5 times as fast on a 2-core
    node.
    """
    actions = generate(namespace, total)
    tally = Tally()
    tally.add(helpers.streaming_bulk(es, islice(actions, 1000), raise_on_error=False))
    es.indices.put_settings(
        index=streams(namespace),
        settings={"index.refresh_interval": "-1"},
        ignore_unavailable=True,
    )
    try:
        results = helpers.parallel_bulk(
            es, actions, thread_count=2, chunk_size=5000, raise_on_error=False
        )
        tally.add(results)
    finally:
        es.indices.put_settings(
            index=streams(namespace),
            settings={"index.refresh_interval": None},
            ignore_unavailable=True,
        )
    if tally.failures:
        raise SystemExit("bulk create refused: " + "; ".join(tally.failures))
    return tally.created, tally.existing


# --- Time ------------------------------------------------------------------------


def scoped(compiled: CompiledRule, namespace: str) -> CompiledRule:
    """Narrow the rule's index patterns to the benchmark's data streams."""
    index = tuple(p.replace("*", f"{namespace}*") for p in compiled.rule.index)
    return dataclasses.replace(
        compiled, rule=dataclasses.replace(compiled.rule, index=index)
    )


def bare_fetch(es: Elasticsearch, request: FetchRequest) -> int:
    """Page through the request's hits with a point-in-time; return their number."""
    opened = es.open_point_in_time(
        index=",".join(request.indices),
        keep_alive=PIT_KEEP_ALIVE,
        ignore_unavailable=True,
    )
    pit_id: str = opened["id"]
    body = request.search_body()
    search_after: list[Any] | None = None
    hits = 0
    try:
        while True:
            page_body = {**body, "pit": {"id": pit_id, "keep_alive": PIT_KEEP_ALIVE}}
            if search_after is not None:
                page_body["search_after"] = search_after
            page = es.search(body=page_body)
            pit_id = page.get("pit_id", pit_id)
            page_hits = page["hits"]["hits"]
            hits += len(page_hits)
            if len(page_hits) < request.page_size:
                return hits
            search_after = page_hits[-1]["sort"]
    finally:
        es.close_point_in_time(id=pit_id)


def stream_only(es: Elasticsearch, request: FetchRequest) -> int:
    """Consume :func:`stream_events` without matching; return the hits."""
    stats = FetchStats()
    for _ in stream_events(es, request, RetryPolicy(), stats):
        pass
    return stats.hits


def renamed(compiled: CompiledRule, repetition: int) -> CompiledRule:
    """Give the rule a rule id of its own per repetition.

    Alert ids derive from the rule id, so every repetition creates its alerts
    in the same, already mapped, alerts index instead of counting duplicates.
    """
    rule_id = f"{compiled.rule.rule_id}-bench{repetition}"
    return dataclasses.replace(
        compiled, rule=dataclasses.replace(compiled.rule, rule_id=rule_id)
    )


def timed_execution(
    runner: RuleRunner, compiled: CompiledRule, window: Window
) -> tuple[float, ExecutionResult]:
    """Run one execution; return its seconds and result."""
    started = time.perf_counter()
    result = runner.run_window(compiled, window, "manual")
    return time.perf_counter() - started, result


def timed(call: Callable[[], int]) -> tuple[float, int]:
    """Return the seconds ``call`` took and what it returned."""
    started = time.perf_counter()
    value = call()
    return time.perf_counter() - started, value


def compare_times(
    es: Elasticsearch, namespace: str, target: Target, repeat: int
) -> None:
    """Time executions and bare fetches, alternated, after one warm-up each."""
    compiled = scoped(compile_rule(load_rule(RULE_FILE)), namespace)
    window = Window(START_MS, END_MS)
    request = fetch_request(compiled, window)
    es.options(ignore_status=404).indices.delete(index=target.alerts_index)
    runner = RuleRunner(es, target, RetryPolicy())
    runner.prepare()
    execution: list[float] = []
    bare: list[float] = []
    stream: list[float] = []
    for rep in range(repeat + 1):
        seconds, result = timed_execution(runner, renamed(compiled, rep), window)
        bare_seconds, bare_hits = timed(lambda: bare_fetch(es, request))
        stream_seconds, _ = timed(lambda: stream_only(es, request))
        if rep > 0:
            execution.append(seconds)
            bare.append(bare_seconds)
            stream.append(stream_seconds)
    _print_times(execution, bare, stream, result, bare_hits)


def show(values: list[float]) -> str:
    """Return the median and every run of ``values`` (seconds) in ms."""
    runs = " ".join(f"{v * 1000:.0f}" for v in values)
    return f"median {statistics.median(values) * 1000:7.0f} ms  (runs: {runs})"


def _print_times(
    execution: list[float],
    bare: list[float],
    stream: list[float],
    result: ExecutionResult,
    bare_hits: int,
) -> None:
    hits = result.events_scanned + result.skipped_documents
    print(f"time: DllHost rule over {iso_window(START_MS, END_MS)}")
    print(f"  execution          {show(execution)}")
    print(f"  bare PIT fetch     {show(bare)}")
    print(f"  stream_events only {show(stream)}  (diagnostic)")
    ratio = statistics.median(execution) / statistics.median(bare)
    print(f"  ratio execution/bare = {ratio:.2f} (goal <= 1.2)")
    print(
        f"  hits fetched: execution {hits:,}, bare {bare_hits:,}; "
        f"sequences {result.sequences}, alerts created {result.alerts_created} "
        f"(new alerts each run: a rule id per run), truncated {result.truncated}"
    )


def iso_window(start_ms: int, end_ms: int) -> str:
    """Return ``start..end`` in ISO 8601."""
    return f"{samples.iso(start_ms)}..{samples.iso(end_ms)}"


# --- Memory ----------------------------------------------------------------------


def memory_rule(folder: Path) -> Path:
    """Write the project rule with a query whose prefilter keeps every event."""
    text = RULE_FILE.read_text(encoding="utf-8")
    query = f"query = '''\n{MEMORY_QUERY}'''"
    variant, replaced = re.subn(r"query = '''.*?'''", lambda _: query, text, flags=re.S)
    if replaced != 1:
        raise SystemExit(f"no query found in {RULE_FILE}")
    path = folder / "memory_variant.toml"
    path.write_text(variant, encoding="utf-8")
    return path


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; return what it printed."""
    command = [sys.executable, __file__, "--rss-child", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {spec['mode']} failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def compare_memory(
    es: Elasticsearch, namespace: str, total: int, target: Target
) -> None:
    """Peak RSS of executions at total/10 and total hits, and of a bare child."""
    rss_target = Target(f"{target.alerts_index}-rss", target.state_index)
    with tempfile.TemporaryDirectory() as folder:
        rule_path = memory_rule(Path(folder))
        compiled = scoped(compile_rule(load_rule(rule_path)), namespace)
        covered = count(es, streams(namespace), query_prefilter(compiled.rule.parsed))
        print(
            f"memory: variant prefilter covers {covered:,} of {total:,} events "
            f"({covered / total:.1%})"
        )
        baseline = run_child({"mode": "baseline"})
        rows = []
        for size in (total // 10, total):
            window = Window(END_MS - LOOKBACK_MS * size // total, END_MS)
            es.options(ignore_status=404).indices.delete(index=rss_target.alerts_index)
            spec = {
                "mode": "execute",
                "rule": str(rule_path),
                "namespace": namespace,
                "window": [window.start_ms, window.end_ms],
                "target": [rss_target.alerts_index, rss_target.state_index],
            }
            rows.append((size, run_child(spec)))
    es.options(ignore_status=404).indices.delete(index=rss_target.alerts_index)
    _print_memory(baseline, rows)


def _print_memory(
    baseline: dict[str, Any], rows: list[tuple[int, dict[str, Any]]]
) -> None:
    base = baseline["maxrss_kb"] / 1024
    print(f"  baseline child (imports, client, one request): {base:7.1f} MB")
    for size, row in rows:
        rss = row["maxrss_kb"] / 1024
        print(
            f"  ~{size:>9,} hits: peak RSS {rss:7.1f} MB "
            f"(+{rss - base:.1f} MB over baseline); hits {row['hits']:,}, "
            f"sequences {row['sequences']:,}, alerts {row['alerts_created']}, "
            f"{row['duration_ms'] / 1000:.1f} s ({row['gc_s']:.1f} s in gc)"
        )
    small, large = (row["maxrss_kb"] / 1024 for _, row in rows)
    print(
        f"  ratio {rows[1][0]:,}/{rows[0][0]:,} hits: {large / small:.2f} "
        f"(above baseline: {(large - base) / max(small - base, 0.1):.2f}; goal: flat)"
    )


def peak_rss_kb() -> int:
    """Return this process's peak resident set size in KiB.

    Linux's ``ru_maxrss`` keeps the peak of the process image replaced by
    ``exec``, that is of the forked parent, so a child would report the
    benchmark's own peak. ``VmHWM`` belongs to the new image alone.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class GcClock:
    """Seconds spent in the cyclic garbage collector, through ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


def rss_child(spec: dict[str, Any]) -> int:
    """The child side of :func:`run_child`: measure, print one JSON line."""
    es = client()
    es.cluster.health()
    gc_clock = GcClock()
    figures: dict[str, Any] = {}
    if spec["mode"] == "execute":
        compiled = scoped(compile_rule(load_rule(spec["rule"])), spec["namespace"])
        runner = RuleRunner(es, Target(*spec["target"]), RetryPolicy())
        result = runner.run_window(compiled, Window(*spec["window"]), "manual")
        figures = {
            "hits": result.events_scanned + result.skipped_documents,
            "sequences": result.sequences,
            "alerts_created": result.alerts_created,
            "duration_ms": result.duration_ms,
            "gc_s": gc_clock.seconds,
        }
    figures["maxrss_kb"] = peak_rss_kb()
    print(json.dumps(figures))
    return 0


# --- Main ------------------------------------------------------------------------


def client() -> Elasticsearch:
    """Return a client for ``ES_URL``, patient enough for large bulks."""
    return build_client(load_settings()).options(request_timeout=300)


def cleanup(es: Elasticsearch, target: Target) -> None:
    """Delete the benchmark's alerts and state indices and their templates."""
    for name in (target.alerts_index, f"{target.alerts_index}-rss", target.state_index):
        es.options(ignore_status=404).indices.delete(index=name)
        es.options(ignore_status=404).indices.delete_index_template(
            name=f"eql-runner-{name}"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Return the command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, help="events to index (default 1e6)")
    parser.add_argument("--quick", action="store_true", help="1e5 events")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions")
    parser.add_argument("--time-only", action="store_true", help="skip the memory part")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1 or (args.events is not None and args.events < 10):
        parser.error("--repeat must be at least 1 and --events at least 10")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the three parts and print their figures."""
    args = parse_args(argv)
    if args.rss_child:
        return rss_child(json.loads(args.rss_child))
    total = args.events or (QUICK_EVENTS if args.quick else FULL_EVENTS)
    namespace = f"bench{total}e"
    es = client()
    ensure_data(es, namespace, total)
    target = Target(f"bench-alerts-{namespace}", f"bench-state-{namespace}")
    try:
        compare_times(es, namespace, target, args.repeat)
        if not args.time_only:
            compare_memory(es, namespace, total, target)
    finally:
        cleanup(es, target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
