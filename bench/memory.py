"""Memory under hostile variety: 20,000 distinct long questions through Assistant.ask.

    nice -n 10 python -m bench.memory [--questions 20000] [--chars 900] [--users 20] [--only-sizes]

Indexes the seed document in a temporary folder. First it measures, with tracemalloc, what the
bounds bound (`sizes` in the results; `--only-sizes` measures just this, in seconds, and exits):

- one conversation in the in-memory store (assistant/answer/conversation.py ConversationStore)
  continued through Assistant.ask with six 1,000-character turns (`conversation_turns`, the most it
  keeps), and so the worst case at `max_conversations` of them; also after twelve such turns (the
  store still keeps six), which says whether six turns is really the most one conversation holds;
- one distinct 1,000-character question in the tokenizer cache (assistant/store/keyword.py
  `_cache`), beside what the cache itself counts for it, and so what its byte bound (CACHE_BYTES)
  lets it hold at most.

Each is the average over 100 copies (fresh store, fresh cache) so the containers' growth is shared
as it is when they are full. Then it asks N distinct long questions, each in a new
conversation (the hostile pattern: every cache key and every conversation is new), while a few "real
users" keep continuing their own conversations. Prints RSS before and after (target: < 2 GiB after),
the tokenizer cache's size, how many conversations the store holds and whether every real user's
conversation survived the flood; writes the figures to bench/results/memory.json, RSS every 1,000
questions in `rss_every_1000` (flat once the conversation store's bound, max_conversations, and the
tokenizer cache's are full); also every 100 questions with "finished": false, so a stopped run
keeps its figures. `--only-sizes` writes bench/results/memory.json with `sizes` alone.

Each 900-character question costs ~0.8 s of query embedding on one CPU core, so the full run takes
hours on a shared machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import psutil
from cachetools import LRUCache

from assistant.answer.conversation import Conversation, ConversationStore, Turn
from assistant.errors import UnknownConversationError
from assistant.indexing.service import run_index
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.store import keyword
from bench.helpers import copy_seed, write_results

# Question vocabulary (not policy text): words an enterprise's question is made of.
WORDS = ["企业", "申请", "补贴", "条件", "材料", "概念验证", "平台", "中试", "天津", "科技成果", "转化", "资金",
         "支持", "政策", "多少", "哪些", "如何", "办理", "期限", "标准", "高新技术", "孵化", "人才", "项目",
         "奖励", "税收", "优惠", "知识产权", "专利", "融资", "贷款", "担保", "园区", "创新", "研发", "投入"]
FOLLOW_UPS = ["那申请条件是什么？", "需要哪些材料？", "资金支持有多少？", "还有其他要求吗？"]
MiB = 1 << 20
KiB = 1 << 10
COPIES = 100  # sizes are averaged over this many conversations / cache entries


def question(rng: random.Random, n: int, chars: int) -> str:
    """A distinct long question: vocabulary words in random order, with a serial number."""
    parts = [f"第{n}个问题："]
    while sum(map(len, parts)) < chars:
        parts.append(rng.choice(WORDS))
        if rng.random() < 0.2:
            parts.append(str(rng.randint(1, 10**6)))
    return "".join(parts)[:chars] + "？"


def traced(build: Callable[[], object]) -> int:
    """Bytes still allocated after `build()` (tracemalloc), what it returns kept alive meanwhile."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del kept
    return held


def fresh(text: str) -> str:
    """A new string object equal to `text` (a copy holds its own memory, as a received question does)."""
    return (text + " ")[:-1]


def conversation_bytes(turns: list[Turn], settings: Settings) -> int:
    """What one conversation holding `turns` costs in a fresh in-memory store: its entry, the
    Conversation, its id, the Turns and their strings (source names are the index's, shared)."""
    def build() -> ConversationStore:
        store = ConversationStore(settings.max_conversations, settings.conversation_ttl_seconds,
                                  settings.conversation_turns)
        for _ in range(COPIES):
            conversation = store.get(store.get(None).id)  # continued: among the conversations evicted last
            conversation.turns.extend(Turn(fresh(t.question), fresh(t.query), list(t.sources), fresh(t.subject))
                                      for t in turns)
        return store

    return round(traced(build) / COPIES)


def measure_sizes(assistant: Assistant, settings: Settings) -> dict[str, object]:
    """One conversation of six (and of twelve) 1,000-character turns; one 1,000-character question in
    the tokenizer cache; and the worst cases their bounds allow."""
    rng = random.Random(29)
    chars = settings.max_question_chars  # 1,000: the longest question a client may send
    conversation: Conversation | None = None
    by_turns: dict[int, dict[str, int]] = {}
    for n in range(2 * settings.conversation_turns):
        # The first turn names its subject; the others are follow-ups (那…), resolved against it.
        text = question(rng, n, chars - 1) if n == 0 else "那" + question(rng, n, chars - 2)
        # What Assistant.ask does; the conversation object kept here is the one the store holds, read
        # after the turn (getting it from the store again would trim it for a next turn).
        conversation = assistant.conversations.get(conversation.id if conversation else None)
        assistant.answer(assistant.check_question(text), conversation)
        if n + 1 in (settings.conversation_turns, 2 * settings.conversation_turns):
            held = list(conversation.turns)
            by_turns[n + 1] = {"bytes": conversation_bytes(held, settings), "turns_held": len(held),
                               "longest_query_chars": max(len(t.query) for t in held)}
    six, twelve = by_turns[settings.conversation_turns], by_turns[2 * settings.conversation_turns]

    texts = [question(rng, 10**6 + n, chars - 1) for n in range(COPIES)]  # distinct, never cut before
    cache: LRUCache[str, tuple[str, ...]] = LRUCache(maxsize=keyword.CACHE_BYTES, getsizeof=keyword._size)
    served = keyword._cache
    keyword._cache = cache
    try:
        def build() -> None:
            for text in texts:
                keyword.tokenize(text)

        entry = round(traced(build) / COPIES)
        counted = round(cache.currsize / COPIES)
    finally:
        keyword._cache = served
    return {
        "conversation_turns": settings.conversation_turns, "turn_chars": chars,
        "conversation_bytes": six["bytes"], "conversation_kib": round(six["bytes"] / KiB, 1),
        "conversation_longest_query_chars": six["longest_query_chars"],
        "max_conversations": settings.max_conversations,
        "conversations_worst_case_mib": round(six["bytes"] * settings.max_conversations / MiB),
        # Twelve turns: the store keeps six, so this should not exceed the six-turn figure by much.
        "conversation_after_twice_the_turns_bytes": twelve["bytes"],
        "conversation_after_twice_the_turns_kib": round(twelve["bytes"] / KiB, 1),
        "conversation_after_twice_the_turns_longest_query_chars": twelve["longest_query_chars"],
        "conversation_after_twice_the_turns_turns_held": twelve["turns_held"],
        "conversation_bounded_by_turns": twelve["bytes"] <= 1.1 * six["bytes"],
        "tokenizer_question_chars": chars, "tokenizer_entry_bytes": entry,
        "tokenizer_entry_kib": round(entry / KiB, 1), "tokenizer_entry_counted_bytes": counted,
        "tokenizer_cache_bound_mib": round(keyword.CACHE_BYTES / MiB),
        # What the cache may hold when full of such entries: its bound in its own count, as allocated.
        "tokenizer_cache_worst_case_mib": round(keyword.CACHE_BYTES * entry / counted / MiB, 1),
        "copies": COPIES,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=20000)
    parser.add_argument("--chars", type=int, default=900)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--only-sizes", action="store_true",
                        help="measure one conversation and one cached question (tracemalloc), save them, exit")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    settings = Settings(corpus_dir=copy_seed(root / "corpus"), index_dir=root / "index", data_dir=root / "data",
                        rate_limit_questions="", rate_limit_reports="")  # clients share one address
    run_index(settings)
    assistant = Assistant(settings)
    started = time.perf_counter()
    sizes = measure_sizes(assistant, settings)
    print(json.dumps(sizes, indent=1), f"\n({time.perf_counter() - started:.0f} s)", flush=True)
    if args.only_sizes:
        write_results("memory", {"sizes": sizes, "only_sizes": True})
        return
    process = psutil.Process()
    users = [assistant.ask("天津布局建设了多少家概念验证平台？").conversation_id for _ in range(args.users)]
    rss_before = process.memory_info().rss
    rng = random.Random(13)
    started = time.perf_counter()
    peak = rss_before
    lost_users = 0
    series: list[dict[str, float]] = []  # RSS every 1,000 questions: flat once the bounds are full

    def figures(asked: int) -> dict[str, object]:
        rss = process.memory_info().rss
        return {
            "questions": asked, "planned_questions": args.questions, "question_chars": args.chars,
            "real_users": args.users, "rss_before_mib": round(rss_before / MiB), "rss_after_mib": round(rss / MiB),
            "rss_peak_mib": round(max(peak, rss) / MiB), "target_mib": 2048,
            "tokenizer_cache_mib": round(keyword._cache.currsize / MiB, 1),
            "conversations_held": len(assistant.conversations), "max_conversations": settings.max_conversations,
            "real_user_conversations_lost": lost_users, "seconds": round(time.perf_counter() - started),
            "ok": rss < 2048 * MiB and lost_users == 0, "rss_every_1000": series, "sizes": sizes,
        }

    for n in range(args.questions):
        assistant.ask(question(rng, n, args.chars))
        if n % 50 == 0:  # real users keep talking, now and then
            user = n // 50 % len(users)
            try:
                assistant.ask(FOLLOW_UPS[n % len(FOLLOW_UPS)], conversation_id=users[user])
            except UnknownConversationError:
                lost_users += 1
                users[user] = assistant.ask("天津布局建设了多少家概念验证平台？").conversation_id
        if n % 100 == 99:
            peak = max(peak, process.memory_info().rss)
            write_results("memory", {**figures(n + 1), "finished": False})  # kept if the run is stopped
        if n % 1000 == 999:
            series.append({"questions": n + 1, "rss_mib": round(process.memory_info().rss / MiB),
                           "conversations": len(assistant.conversations),
                           "tokenizer_cache_mib": round(keyword._cache.currsize / MiB, 1)})
            print(f"{n + 1:>6} questions  rss {process.memory_info().rss / MiB:7.0f} MiB  "
                  f"tokenizer cache {keyword._cache.currsize / MiB:5.1f} MiB  "
                  f"conversations {len(assistant.conversations)}  {time.perf_counter() - started:6.0f} s",
                  flush=True)
    result = {**figures(args.questions), "finished": True,
              "longest_real_user_turns": max(len(assistant.conversations.get(u).turns) for u in users)}
    print(json.dumps(result, indent=1))
    write_results("memory", result)


if __name__ == "__main__":
    main()
