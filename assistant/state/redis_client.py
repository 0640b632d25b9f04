"""The Redis client the shared state uses: fail fast (timeouts of `state_timeout_seconds`, one retry),
so an outage answers 503 at once instead of holding requests until their deadline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from assistant.errors import StateUnavailableError

UNAVAILABLE = "conversations cannot be read just now (Redis is unreachable); retry shortly"


def client(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 1), health_check_interval=15)


@contextmanager
def translated(message: str = UNAVAILABLE) -> Iterator[None]:
    """Redis unreachable → StateUnavailableError (503 + Retry-After), whatever the command."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as err:
        raise StateUnavailableError(message, zh="服务暂时不可用，请稍后再试。") from err
