"""Which errors are transient, and the retry policy around every call."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError, ConnectionError, ConnectionTimeout

from runner.elastic.client import RetryPolicy, is_transient


def api_error(status: int) -> ApiError:
    """Return an ApiError as the client raises it for an HTTP ``status``."""
    meta = ApiResponseMeta(
        status=status,
        http_version="1.1",
        headers=HttpHeaders(),
        duration=0.0,
        node=NodeConfig("http", "localhost", 9200),
    )
    return ApiError(f"status {status}", meta=meta, body={})


class Flaky:
    """A callable that raises the given errors in turn, then returns a value."""

    def __init__(self, errors: list[Exception], value: str = "done") -> None:
        self.errors = list(errors)
        self.value = value
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.value


def recording_policy(
    attempts: int = 5, max_wait_s: float = 2.0
) -> tuple[RetryPolicy, list[float]]:
    """Return a policy whose sleep records the waits instead of sleeping."""
    waits: list[float] = []
    policy = RetryPolicy(attempts=attempts, max_wait_s=max_wait_s, sleep=waits.append)
    return policy, waits


@pytest.mark.parametrize(
    "make",
    [
        lambda: ConnectionError("refused"),
        lambda: ConnectionTimeout("timed out"),
        lambda: api_error(429),
        lambda: api_error(502),
        lambda: api_error(503),
        lambda: api_error(504),
    ],
    ids=["connection", "timeout", "429", "502", "503", "504"],
)
def test_is_transient_true_for_retryable(make: Callable[[], Exception]) -> None:
    """Connection failures, timeouts, 429 and 502-504 are transient."""
    assert is_transient(make())


@pytest.mark.parametrize(
    "error",
    [api_error(400), api_error(404), api_error(409), ValueError("x")],
    ids=["400", "404", "409", "not-elasticsearch"],
)
def test_is_transient_false_for_permanent(error: Exception) -> None:
    """Client errors and foreign exceptions are not transient."""
    assert not is_transient(error)


def test_retry_policy_call_retries_transient_then_succeeds() -> None:
    """Two transient failures are retried; the waits stay within max_wait_s."""
    policy, waits = recording_policy(max_wait_s=2.0)
    flaky = Flaky([api_error(503), ConnectionTimeout("slow")])

    assert policy.call("search", flaky) == "done"

    assert flaky.calls == 3
    assert len(waits) == 2
    assert all(0 <= wait <= 2.0 for wait in waits)


def test_retry_policy_call_passes_arguments() -> None:
    """Positional and keyword arguments reach the called function."""
    policy, waits = recording_policy()
    assert policy.call("join", "-".join, ["a", "b"]) == "a-b"
    assert policy.call("int", int, "ff", base=16) == 255
    assert waits == []


def test_retry_policy_call_gives_up_after_attempts() -> None:
    """After `attempts` transient failures the last error is re-raised."""
    policy, waits = recording_policy(attempts=3)
    errors: list[Exception] = [api_error(429), api_error(502), api_error(503)]
    last = errors[-1]
    flaky = Flaky([*errors, api_error(504)])

    with pytest.raises(ApiError) as info:
        policy.call("bulk", flaky)

    assert info.value is last
    assert flaky.calls == 3
    assert len(waits) == 2


@pytest.mark.parametrize(
    "error",
    [api_error(400), api_error(409), ValueError("bad")],
    ids=["400", "409", "not-elasticsearch"],
)
def test_retry_policy_call_never_retries_permanent(error: Exception) -> None:
    """A non-transient error propagates from the first attempt, unretried."""
    policy, waits = recording_policy()
    flaky = Flaky([error])

    with pytest.raises(type(error)) as info:
        policy.call("create", flaky)

    assert info.value is error
    assert flaky.calls == 1
    assert waits == []


def test_retry_policy_waits_bounded_over_many_attempts() -> None:
    """Even after many attempts a single wait never exceeds max_wait_s."""
    policy, waits = recording_policy(attempts=12, max_wait_s=0.75)
    flaky = Flaky([ConnectionError("down")] * 11)

    assert policy.call("health", flaky) == "done"

    assert len(waits) == 11
    assert max(waits) <= 0.75
