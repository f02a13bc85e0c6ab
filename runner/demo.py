"""The demo: an hour of Windows telemetry, then the runner over it.

``python -m runner.demo`` (what ``make demo`` runs) indexes about an hour of
events ending now into the four index families of the DllHost rule, in the
three producers' shapes: benign dllhost.exe starts with arguments, dllhost
connecting to private and IPv6 link-local addresses, connections that come
more than a minute after the start, other processes, and a few true
positives to public IPv4 and IPv6 addresses. It then backfills the hour and
either exits (``--once``) or hands over to the daemon, printing each alert
as it is written.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from elasticsearch import Elasticsearch, helpers

from runner import samples
from runner.elastic.client import build_client
from runner.settings import load_settings

MINUTE = 60_000
NAMESPACE = "demo"

Doc = tuple[str, dict[str, Any]]

PUBLIC_V4 = ("185.199.108.153", "52.84.12.7", "203.0.114.9", "8.8.4.4")
PUBLIC_V6 = ("2606:4700:4700::1111", "2a00:1450:4001:82a::200e")
PRIVATE = ("10.1.2.3", "192.168.1.20", "172.16.5.4", "fe80::1c2b:3fff:fe4a:1", "::1")


def _stream(family: str) -> str:
    return samples.data_stream_name(family, NAMESPACE)


def _true_positive(rng: random.Random, ms: int, host: str, n: int) -> list[Doc]:
    """A dllhost start with no arguments, a public connection seconds later."""
    destination = rng.choice(PUBLIC_V6 if n % 3 == 0 else PUBLIC_V4)
    later = ms + rng.randint(1_000, 50_000)
    if n % 2 == 0:
        entity = f"ep-tp-{n}"
        return [
            (
                _stream(samples.DEFEND_PROCESS),
                samples.defend_process_start(ms, host, entity, sequence=n * 10),
            ),
            (
                _stream(samples.DEFEND_NETWORK),
                samples.defend_network(
                    later, host, entity, destination, sequence=n * 10 + 1
                ),
            ),
        ]
    flavor = samples.SYSMON if n % 4 == 1 else samples.WINLOGBEAT
    guid = samples.process_guid()
    return [
        (_stream(flavor), samples.sysmon_process_create(ms, host, guid, flavor=flavor)),
        (
            _stream(flavor),
            samples.sysmon_network(later, host, guid, destination, flavor=flavor),
        ),
    ]


def _benign(rng: random.Random, ms: int, host: str, n: int) -> list[Doc]:
    """Look-alikes the rule must not raise: one of five kinds, by ``n``."""
    entity = f"ep-benign-{n}"
    start = samples.defend_process_start
    network = samples.defend_network
    process_stream = _stream(samples.DEFEND_PROCESS)
    network_stream = _stream(samples.DEFEND_NETWORK)
    kind = n % 5
    if kind == 0:  # COM surrogate with its /Processid argument
        args = ["/Processid:{3EB3C877-1F16-487C-9050-104DBCD66683}"]
        first = start(ms, host, entity, args=args)
        second = network(ms + 2_000, host, entity, rng.choice(PUBLIC_V4))
    elif kind == 1:  # private or link-local destination
        first = start(ms, host, entity)
        second = network(ms + 3_000, host, entity, rng.choice(PRIVATE))
    elif kind == 2:  # connection more than a minute after the start
        first = start(ms, host, entity)
        second = network(ms + MINUTE + 500, host, entity, rng.choice(PUBLIC_V4))
    elif kind == 3:  # another process
        first = start(ms, host, entity, name="svchost.exe")
        second = network(ms + 1_000, host, entity, "13.107.4.50", name="svchost.exe")
    else:  # the connection belongs to another dllhost instance
        first = start(ms, host, entity)
        second = network(ms + 4_000, host, entity + "-other", rng.choice(PUBLIC_V4))
    return [(process_stream, first), (network_stream, second)]


def generate(end_ms: int, seed: int = 2026) -> tuple[list[Doc], int]:
    """Return an hour of telemetry ending at ``end_ms`` and its true positives."""
    rng = random.Random(seed)
    hosts = [f"host-{i:02d}-{rng.getrandbits(32):08x}" for i in range(12)]
    docs: list[Doc] = []
    true_positives = 0
    for n in range(600):
        ms = end_ms - 60 * MINUTE + rng.randint(0, 58 * MINUTE)
        host = rng.choice(hosts)
        if n >= 598:
            # Two true positives inside the last window, so one execution finds them.
            ms = end_ms - rng.randint(2 * MINUTE, 7 * MINUTE)
            docs.extend(_true_positive(rng, ms, host, true_positives))
            true_positives += 1
        elif n % 50 == 7:
            docs.extend(_true_positive(rng, ms, host, true_positives))
            true_positives += 1
        else:
            docs.extend(_benign(rng, ms, host, n))
    return docs, true_positives


def seed(es: Elasticsearch, docs: Sequence[Doc]) -> None:
    """Install the source templates and index the documents."""
    for name, body in samples.source_templates(NAMESPACE).items():
        es.indices.put_index_template(name=name, **body)
    actions = (
        {"_op_type": "create", "_index": index, "_source": doc} for index, doc in docs
    )
    helpers.bulk(es, actions, refresh="wait_for")


def _runner(*args: str) -> list[str]:
    return [sys.executable, "-m", "runner", *args]


def _print_alerts(es: Elasticsearch, index: str, since_ms: int, seen: set[str]) -> None:
    """Print the parent alerts written since ``since_ms`` not printed yet."""
    if not es.indices.exists(index=index):
        return
    es.indices.refresh(index=index)
    parents = {"exists": {"field": "kibana.alert.building_block_type"}}
    written = {"range": {"@timestamp": {"gte": since_ms, "format": "epoch_millis"}}}
    found = es.search(
        index=index,
        query={"bool": {"must_not": parents, "filter": written}},
        sort=[{"kibana.alert.original_time": "asc"}],
        size=1000,
    )
    for hit in found["hits"]["hits"]:
        if hit["_id"] in seen:
            continue
        seen.add(hit["_id"])
        alert = hit["_source"]
        print(
            f"ALERT {alert['kibana.alert.original_time']} "
            f"host.id={alert.get('host', {}).get('id')} "
            f"process.entity_id={alert.get('process', {}).get('entity_id')} "
            f"({alert['kibana.alert.rule.execution.type']}): "
            f"{alert['kibana.alert.reason']}",
            flush=True,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Seed the demo data, then run one execution or the daemon."""
    parser = argparse.ArgumentParser(prog="python -m runner.demo")
    parser.add_argument(
        "--once", action="store_true", help="one execution, print its alerts, exit"
    )
    args = parser.parse_args(argv)

    settings = load_settings()
    es = build_client(settings)
    started_ms = int(time.time() * 1000)
    docs, true_positives = generate(started_ms)
    seed(es, docs)
    print(
        f"indexed {len(docs)} events over the last hour, {true_positives} of them "
        "true positives; 2 fall inside the current 9-minute window"
    )
    seen: set[str] = set()

    if args.once:
        subprocess.run(_runner("run-once"), check=True)
        _print_alerts(es, settings.alerts_index, started_ms, seen)
        print(f"{len(seen)} alert(s) created in {settings.alerts_index}")
        return 0 if seen else 1

    print("backfilling the hour (manual executions)")
    # The backfill's JSON lines would bury the alerts; its log lines remain.
    subprocess.run(
        _runner("backfill", "--from", "now-65m", "--to", "now"),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    _print_alerts(es, settings.alerts_index, started_ms, seen)
    print("starting the daemon (scheduled executions every 5 minutes); Ctrl-C stops it")
    daemon = subprocess.Popen(_runner("run"))
    try:
        while daemon.poll() is None:
            _print_alerts(es, settings.alerts_index, started_ms, seen)
            time.sleep(5)
    except KeyboardInterrupt:
        daemon.send_signal(signal.SIGINT)
        return daemon.wait()
    return daemon.returncode


if __name__ == "__main__":
    sys.exit(main())
