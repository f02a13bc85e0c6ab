"""The point-in-time fetch against a real node: order, typing and failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from elasticsearch import ApiError, Elasticsearch, helpers

from runner.elastic.client import RetryPolicy
from runner.elastic.fetch import FetchRequest, FetchStats, stream_events
from runner.samples import iso

pytestmark = pytest.mark.elasticsearch

T0 = 1_796_119_200_000


@pytest.fixture
def indices(es: Elasticsearch, namespace: str) -> Iterator[str]:
    """A prefix for plain indices of this test, deleted afterwards."""
    prefix = f"fetch-{namespace}"
    yield prefix
    es.options(ignore_status=404).indices.delete(index=f"{prefix}-*")


def _create(es: Elasticsearch, index: str, ip_type: str) -> None:
    es.indices.create(
        index=index,
        settings={"number_of_replicas": 0},
        mappings={
            "properties": {
                "@timestamp": {"type": "date"},
                "event": {"properties": {"sequence": {"type": "long"}}},
                "destination": {"properties": {"ip": {"type": ip_type}}},
            }
        },
    )


def _request(prefix: str, query: dict[str, object], page_size: int) -> FetchRequest:
    return FetchRequest(
        indices=[f"{prefix}-*"],
        query=query,
        fields=["destination.ip"],
        start_ms=T0 - 60_000,
        end_ms=T0 + 60_000,
        page_size=page_size,
    )


def test_fetch_equal_timestamps_come_in_index_id_order_across_pages(
    es: Elasticsearch, indices: str
) -> None:
    """Thirty events of one millisecond in two indices, fetched 7 a page,
    arrive ordered by (_index, _id) whatever order the shards return."""
    for name in ("a", "b"):
        _create(es, f"{indices}-{name}", "ip")
    actions = [
        {
            "_op_type": "create",
            "_index": f"{indices}-{'ab'[n % 2]}",
            "_id": f"doc-{n:02d}",
            "_source": {"@timestamp": iso(T0), "destination": {"ip": "::ffff:8.8.8.8"}},
        }
        for n in range(30)
    ]
    helpers.bulk(es, actions, refresh="wait_for")
    stats = FetchStats()

    events = list(
        stream_events(es, _request(indices, {"match_all": {}}, 7), RetryPolicy(), stats)
    )

    keys = [(event.index, event.id) for event in events]
    assert keys == sorted(keys)
    assert len(keys) == 30
    assert stats.pages == 5
    assert events[0].fields["destination.ip"] == ["8.8.8.8"]
    assert events[0].tiebreaker is None


def test_fetch_shard_failure_fails_instead_of_dropping_events(
    es: Elasticsearch, indices: str
) -> None:
    """When the query fails on some shards only, the fetch raises rather than
    returning the other shards' events as if the window were complete."""
    _create(es, f"{indices}-ip", "ip")
    _create(es, f"{indices}-kw", "keyword")
    for name in ("ip", "kw"):
        es.index(
            index=f"{indices}-{name}",
            document={"@timestamp": iso(T0), "destination": {"ip": "1.2.3.4"}},
            refresh="wait_for",
        )
    request = _request(indices, {"range": {"destination.ip": {"gte": "zzz"}}}, 100)

    with pytest.raises(ApiError):
        list(stream_events(es, request, RetryPolicy(attempts=1), FetchStats()))
