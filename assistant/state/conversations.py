"""Conversations in Redis, so a follow-up may reach any worker on any host.

The same bounds as the in-memory store (assistant/answer/conversation.py ConversationStore), kept
in Redis itself so that they hold for the whole deployment:

* turns: a conversation keeps its last `max_turns` (trimmed when read for the next turn);
* idle expiry: each conversation is a key with a time to live of `ttl_seconds`, renewed on use;
* count: over `limit`, one-shot conversations (never continued) are evicted first, oldest first,
  then continued ones. Two sorted sets (by last use) say which is which.

Reading a conversation and the bookkeeping above are one Lua script, run atomically by Redis, so
workers never evict or count past the limit between them. A turn is written back when it is
remembered (`SET … XX`: a conversation evicted in the meantime stays evicted). Two requests of one
conversation at the same moment on two workers: the later write wins (a person asks one at a time).
Times are Redis's clock, not the workers', so hosts need not agree on the time.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

from assistant.answer.conversation import Conversation, Turn
from assistant.errors import StateUnavailableError, UnknownConversationError
from assistant.state.redis_client import client, translated

if TYPE_CHECKING:
    import redis

    from assistant.settings import Settings

log = logging.getLogger(__name__)

# KEYS: one-shot set, continued set, the conversation's key. ARGV: id, "new" or "old", limit,
# ttl (ms), key prefix. Returns {stored turns or false, Redis time in ms}.
_GET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
if ARGV[2] == 'new' then
  local limit = tonumber(ARGV[3])
  local n = redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2])
  while n >= limit do
    local victim = redis.call('ZPOPMIN', KEYS[1])
    if #victim == 0 then victim = redis.call('ZPOPMIN', KEYS[2]) end
    if #victim == 0 then break end
    redis.call('DEL', ARGV[5] .. victim[1])
    n = n - 1
  end
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('SET', KEYS[3], '[]', 'PX', ttl)
  return {'[]', now}
end
local data = redis.call('GET', KEYS[3])
if not data then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return {false, now}
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('PEXPIRE', KEYS[3], ttl)
return {data, now}
"""


def _dump(turns: list[Turn]) -> str:
    return json.dumps([vars(t) for t in turns], ensure_ascii=False)


def _load(data: bytes | str) -> list[Turn]:
    return [Turn(**t) for t in json.loads(data)]


class RedisConversations:
    """ConversationStore's interface (get, `in`, len) on Redis; see the module docstring."""

    def __init__(self, redis_client: redis.Redis, limit: int = 10000, ttl_seconds: float = 7200.0,
                 max_turns: int = 6, prefix: str = "assistant:") -> None:
        self._redis = redis_client
        self._limit = max(1, limit)
        self._ttl_ms = max(1, round(ttl_seconds * 1000))
        self._max_turns = max(1, max_turns)
        self._prefix = f"{prefix}conversation:"
        self._sets = (f"{prefix}conversations:oneshot", f"{prefix}conversations:continued")
        self._get = redis_client.register_script(_GET)

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisConversations:
        assert settings.redis_url
        return cls(client(settings.redis_url, settings.state_timeout_seconds), settings.max_conversations,
                   settings.conversation_ttl_seconds, settings.conversation_turns)

    def __len__(self) -> int:
        with translated():
            pipe = self._redis.pipeline(transaction=False)
            for key in self._sets:
                pipe.zcard(key)
            return int(sum(pipe.execute()))

    def __contains__(self, conversation: object) -> bool:
        """Whether this conversation came from this store (not an ad-hoc one)."""
        return isinstance(conversation, Conversation) and conversation.keeper is self

    def get(self, conversation_id: str | None, create: bool = True) -> Conversation:
        """A new conversation (no id) or a known one, touched and trimmed for the turn to come."""
        new = conversation_id is None
        cid = uuid.uuid4().hex if conversation_id is None else conversation_id
        with translated():
            data, now_ms = self._get(keys=[*self._sets, self._prefix + cid],
                                     args=[cid, "new" if new else "old", self._limit, self._ttl_ms, self._prefix])
        if data is None:
            raise UnknownConversationError(
                f"unknown conversation_id '{cid[:64]}': start a new conversation without one")
        turns = _load(data)
        del turns[: max(0, len(turns) - self._max_turns + 1)]  # room for this call's turn
        return Conversation(cid, turns, touched=int(now_ms) / 1000, keeper=self)

    def save(self, conversation: Conversation) -> None:
        """Write a conversation's turns back (after `remember`), unless it expired or was evicted.
        The answer is given even if this fails: only its follow-up would miss the context."""
        turns = conversation.turns[-self._max_turns:]
        try:
            with translated():
                self._redis.set(self._prefix + conversation.id, _dump(turns), xx=True, px=self._ttl_ms)
        except StateUnavailableError as err:
            log.error("conversation %s: the turn could not be saved: %s", conversation.id[:12], err)

    def clear(self) -> None:
        """Drop every conversation (tests; an operator resetting a deployment)."""
        with translated():
            keys: list[Any] = [*self._sets, *self._redis.scan_iter(match=self._prefix + "*", count=1000)]
            self._redis.delete(*keys)
