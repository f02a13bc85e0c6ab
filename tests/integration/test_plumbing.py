"""The node, the templates and the point-in-time read the runner relies on."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from elasticsearch import Elasticsearch, helpers

from runner import samples

pytestmark = pytest.mark.elasticsearch

BASE_MS = 1_796_119_200_000  # 2026-12-01T10:00:00Z


def _documents(namespace: str) -> list[tuple[str, dict[str, Any]]]:
    """Forty events spread over the four families, timestamps 1 s apart."""
    host = "host-plumbing"
    builders: list[tuple[str, Callable[[int], samples.Document]]] = [
        (
            samples.DEFEND_PROCESS,
            lambda ms: samples.defend_process_start(ms, host, "ep-1"),
        ),
        (
            samples.DEFEND_NETWORK,
            lambda ms: samples.defend_network(ms, host, "ep-1", "8.8.8.8"),
        ),
        (samples.SYSMON, lambda ms: samples.sysmon_network(ms, host, "{G}", "1.1.1.1")),
        (
            samples.WINLOGBEAT,
            lambda ms: samples.sysmon_process_create(
                ms, host, "{G}", flavor=samples.WINLOGBEAT
            ),
        ),
    ]
    docs = []
    for i in range(40):
        family, build = builders[i % 4]
        docs.append(
            (samples.data_stream_name(family, namespace), build(BASE_MS + i * 1000))
        )
    return docs


def test_plumbing_pit_reads_four_families_in_timestamp_order(
    es: Elasticsearch, namespace: str
) -> None:
    """One PIT + search_after query over the four patterns returns every event
    once, in @timestamp order, across pages and despite a missing index."""
    docs = _documents(namespace)
    shuffled = docs[:]
    random.Random(7).shuffle(shuffled)
    actions = [
        {"_op_type": "create", "_index": index, "_source": doc}
        for index, doc in shuffled
    ]
    helpers.bulk(es, actions, refresh="wait_for")

    patterns = [f"{family}-{namespace}*" for family in samples.FAMILIES]
    patterns.append(f"absent-{namespace}")
    pit = es.open_point_in_time(
        index=",".join(patterns), keep_alive="1m", ignore_unavailable=True
    )
    seen: list[str] = []
    search_after: list[Any] | None = None
    try:
        while True:
            page = es.search(
                pit={"id": pit["id"], "keep_alive": "1m"},
                sort=[
                    {
                        "@timestamp": {
                            "order": "asc",
                            "format": "strict_date_optional_time_nanos",
                        }
                    }
                ],
                size=7,
                search_after=search_after,
                fields=[{"field": "@timestamp"}, {"field": "event.category"}],
                source=False,
                allow_no_indices=True,
            )
            hits = page["hits"]["hits"]
            if not hits:
                break
            seen.extend(hit["fields"]["@timestamp"][0] for hit in hits)
            search_after = hits[-1]["sort"]
    finally:
        es.close_point_in_time(id=pit["id"])

    expected = [doc["@timestamp"] for _, doc in docs]
    assert [ts[:23] + "Z" for ts in seen] == expected
    assert len(seen) == 40
