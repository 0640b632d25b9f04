"""Memory under hostile variety: 20,000 distinct long questions through Assistant.ask.

    nice -n 10 python -m bench.memory [--questions 20000] [--chars 900] [--users 20]

Indexes the seed document in a temporary folder, then asks N distinct long questions, each in a new
conversation (the hostile pattern: every cache key and every conversation is new), while a few "real
users" keep continuing their own conversations. Prints RSS before and after (target: < 2 GiB after),
the tokenizer cache's size, how many conversations the store holds and whether every real user's
conversation survived the flood; writes the figures to bench/results/memory.json, RSS every 1,000
questions in `rss_every_1000` (flat once the conversation store's bound, max_conversations, and the
tokenizer cache's are full); also every 100 questions with "finished": false, so a stopped run
keeps its figures.

Each 900-character question costs ~0.8 s of query embedding on one CPU core, so the full run takes
hours on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import psutil

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


def question(rng: random.Random, n: int, chars: int) -> str:
    """A distinct long question: vocabulary words in random order, with a serial number."""
    parts = [f"第{n}个问题："]
    while sum(map(len, parts)) < chars:
        parts.append(rng.choice(WORDS))
        if rng.random() < 0.2:
            parts.append(str(rng.randint(1, 10**6)))
    return "".join(parts)[:chars] + "？"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=20000)
    parser.add_argument("--chars", type=int, default=900)
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    settings = Settings(corpus_dir=copy_seed(root / "corpus"), index_dir=root / "index", data_dir=root / "data",
                        rate_limit_questions="", rate_limit_reports="")  # clients share one address
    run_index(settings)
    assistant = Assistant(settings)
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
            "ok": rss < 2048 * MiB and lost_users == 0, "rss_every_1000": series,
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
