"""The Elasticsearch client and the one retry policy every call goes through.

The client's own retries are switched off (``max_retries=0``) so that the
policy here is the only one: a bounded number of attempts, a bounded
exponential wait with jitter, and only for errors that a later attempt can
cure (connection failures, timeouts, 429, 502, 503, 504).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from elasticsearch import ApiError, Elasticsearch
from elasticsearch import ConnectionError as EsConnectionError
from elasticsearch import ConnectionTimeout as EsConnectionTimeout
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from runner.settings import Settings

logger = logging.getLogger(__name__)

TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """Return True for errors that a later attempt may not meet again."""
    if isinstance(exc, EsConnectionError | EsConnectionTimeout):
        return True
    return isinstance(exc, ApiError) and exc.meta.status in TRANSIENT_STATUSES


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure.

    Attributes:
        attempts: Attempts in all, the first one included.
        max_delay_s: Give up once this much time has passed since the first.
        max_wait_s: The longest single wait between two attempts.
        sleep: Injected so that tests never sleep for real.
    """

    attempts: int = 5
    max_delay_s: float = 60.0
    max_wait_s: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``fn`` with the policy; ``what`` names the call in log lines."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts) | stop_after_delay(self.max_delay_s),
            wait=wait_random_exponential(multiplier=0.5, max=self.max_wait_s),
            retry=retry_if_exception(is_transient),
            sleep=self.sleep,
            reraise=True,
            before_sleep=_log_retry(what),
        )
        return retrying(fn, *args, **kwargs)


def _log_retry(what: str) -> Callable[[RetryCallState], None]:
    def log(state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        logger.warning(
            "%s failed (attempt %d), retrying: %s", what, state.attempt_number, error
        )

    return log


def build_client(settings: Settings) -> Elasticsearch:
    """Return a client for the cluster the settings name."""
    options: dict[str, Any] = {
        "request_timeout": settings.es_request_timeout,
        "max_retries": 0,
        "retry_on_timeout": False,
        "verify_certs": settings.es_verify_certs,
    }
    if settings.es_ca_certs is not None:
        options["ca_certs"] = str(settings.es_ca_certs)
    if settings.es_api_key is not None:
        options["api_key"] = settings.es_api_key.get_secret_value()
    elif settings.es_username is not None:
        password = (
            settings.es_password.get_secret_value() if settings.es_password else ""
        )
        options["basic_auth"] = (settings.es_username, password)
    return Elasticsearch(settings.es_url, **options)
