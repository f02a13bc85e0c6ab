"""Shared fixtures: the Elasticsearch node and per-test source data streams.

Tests marked ``elasticsearch`` talk to a real node: the cluster at ``ES_URL``
when it is set (``make test`` sets it to the node it starts), otherwise
``http://127.0.0.1:9200``. Each test gets its own namespace, so its data
streams and templates never touch another test's or a user's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from elasticsearch import ApiError, Elasticsearch

from runner import samples

DEFAULT_URL = "http://127.0.0.1:9200"


@pytest.fixture(scope="session")
def es_url() -> str:
    """The URL of the cluster the Elasticsearch tests use."""
    return os.environ.get("ES_URL", DEFAULT_URL)


@pytest.fixture(scope="session")
def es(es_url: str) -> Iterator[Elasticsearch]:
    """A client for the test cluster, failing clearly when none answers."""
    client = Elasticsearch(es_url, request_timeout=30)
    try:
        client.cluster.health(wait_for_status="yellow", timeout="30s")
    except Exception as exc:  # noqa: BLE001 - any failure means no usable node
        pytest.fail(
            f"no Elasticsearch answers at {es_url} ({exc}); "
            "run `make es-up` or set ES_URL"
        )
    yield client
    client.close()


@pytest.fixture
def namespace(es: Elasticsearch) -> Iterator[str]:
    """A fresh data stream namespace with the source templates installed."""
    name = "t" + uuid.uuid4().hex[:12]
    templates = samples.source_templates(name)
    for template_name, body in templates.items():
        es.indices.put_index_template(name=template_name, **body)
    yield name
    if _drop_streams(es, name):
        for template_name in templates:
            es.indices.delete_index_template(name=template_name)


def _drop_streams(es: Elasticsearch, namespace: str) -> bool:
    """Delete a namespace's data streams; False where the node cannot.

    The integ-test distribution has no data stream management API and no
    delete-by-query: there the streams and their templates stay, harmless
    under a unique namespace, until ``make test`` throws the node away.
    """
    patterns = [f"{family}-{namespace}*" for family in samples.FAMILIES]
    try:
        es.indices.delete_data_stream(name=",".join(patterns))
    except ApiError as exc:
        # 9.x answers "no handler" with 400, 8.19 with 405.
        if exc.meta.status in (400, 405):
            return False
        raise
    return True
