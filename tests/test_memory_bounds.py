"""Memory stays bounded under hostile variety: the tokenizer cache, conversations and their turns."""

from __future__ import annotations

import random
import tracemalloc

import pytest
from cachetools import LRUCache

from assistant.answer.conversation import ConversationStore, Turn
from assistant.errors import UnknownConversationError
from assistant.store import keyword


def _long_texts(count: int, chars: int, seed: int = 7) -> list[str]:
    words = ["企业", "申请", "补贴", "条件", "平台", "科技", "成果", "转化", "资金", "支持", "人才", "项目"]
    rng = random.Random(seed)
    return [f"{n}" + "".join(rng.choice(words) for _ in range(chars // 2)) for n in range(count)]


def test_tokenizer_cache_is_bounded_in_bytes_and_counts_what_it_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    budget = 128 * 1024
    monkeypatch.setattr(keyword, "_cache", LRUCache(maxsize=budget, getsizeof=keyword._size))
    texts = _long_texts(80, 600)
    keyword.tokenize("预热分词词典")  # jieba loads its dictionary once; that is not the cache
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for text in texts:
            keyword.tokenize(text)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    cache = keyword._cache
    assert cache.currsize <= budget
    assert 0 < len(cache) < len(texts)  # the oldest long texts were dropped
    assert texts[-1] in cache and texts[0] not in cache
    # The byte accounting does not under-count: what stays allocated is within the budget.
    assert held <= budget * 1.2, held
    # Repeated (cached) text gives the same tokens as a fresh cut, made with an empty cache.
    held_entry = cache[texts[-1]]
    cached = keyword.tokenize(texts[-1])
    assert cache[texts[-1]] is held_entry  # served from the cache, not cut again
    monkeypatch.setattr(keyword, "_cache", LRUCache(maxsize=budget, getsizeof=keyword._size))
    fresh = keyword.tokenize(texts[-1])
    assert texts[-1] in keyword._cache and keyword._cache[texts[-1]] is not held_entry  # really cut anew
    assert len(fresh) > 100 and cached == fresh


def test_texts_longer_than_the_cache_limit_are_not_cached() -> None:
    text = _long_texts(1, keyword.CACHE_MAX_CHARS + 200, seed=99)[0]
    keyword.tokenize(text)
    assert text.lower() not in keyword._cache


def _turn(question: str = "天津概念验证平台有多少家？") -> Turn:
    return Turn(question, question, ["seed.txt"], question)


def test_a_conversation_keeps_only_its_recent_turns() -> None:
    store = ConversationStore(limit=10, max_turns=4)
    conversation = store.get(None)
    for n in range(50):
        conversation = store.get(conversation.id)
        conversation.turns.append(_turn(f"问题{n}"))
    assert len(conversation.turns) == 4
    assert [t.question for t in conversation.turns] == ["问题46", "问题47", "问题48", "问题49"]


def test_a_flood_of_new_conversations_does_not_evict_users_in_the_middle_of_one() -> None:
    store = ConversationStore(limit=100)
    users = []
    for _ in range(20):
        conversation = store.get(None)
        conversation.turns.append(_turn())
        conversation = store.get(conversation.id)  # a follow-up: the user is in a conversation
        conversation.turns.append(_turn("那申请条件呢？"))
        users.append(conversation.id)
    for n in range(10000):  # one question each, never continued
        store.get(None).turns.append(_turn(f"洪水{n}"))
    assert len(store) == 100
    for user in users:
        assert len(store.get(user).turns) == 2
    # Once the limit is reached by continued conversations too, the least recently used goes.
    for _ in range(100):
        conversation = store.get(None)
        store.get(conversation.id)
    with pytest.raises(UnknownConversationError):
        store.get(users[0])


def test_idle_conversations_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.answer.conversation as module

    now = [1_000_000.0]
    monkeypatch.setattr(module.time, "time", lambda: now[0])
    store = ConversationStore(limit=100, ttl_seconds=600)
    idle = store.get(None).id
    active = store.get(None).id
    now[0] += 400
    store.get(active)
    now[0] += 300  # idle: 700 s without a question; active: 300 s
    store.get(None)
    assert store.get(active).id == active
    with pytest.raises(UnknownConversationError):
        store.get(idle)
