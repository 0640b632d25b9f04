"""Fit and check the answerability model (assistant/answer/answerability.py) on hard negatives.

    python -m bench.calibrate_answerability --cache /work/cache/v2/qa \\
        --half-index /work/cache/v2/policyqa-half-m3e-small/index \\
        --statute-index /work/cache/v2/statutes-full-m3e-small/index --seed-dir /work/cache/v2/qa/seed

Labelled sets (signals from the product's retrieval, cached by bench/qa_cache.py):
- policyqa: the 339 dev questions against the half index (documents with even md5(docid));
  answerable exactly when the normalised gold span is in an indexed document.
- statute: consult-dev and scenario-dev against a statute index: answerable when the served
  retrieval brings a gold article into the top 5 passages (`--statute-labels retrieved`, the
  default: what an extractive answer can cite), or all of them (`all`, the issue's first labels);
- policy-on-statute, offtopic-on-statute: the policyqa questions and OFF_TOPIC against that
  statute index (unanswerable);
- law-on-policy: consult-dev and scenario-dev against the policy half index (unanswerable).
- seed: the seed document's own questions (answerable) and off-topic questions that share its
  words (unanswerable) against an index of the seed alone. Both lists are written here, synthetic
  and labelled so (SEED_QUESTIONS, OFF_TOPIC).

Sample weights: √(group size) per (set, label), policyqa times --policy-weight (default 1). Five
folds, stratified by set and label: each fold's model is fitted on the other four and judged on it;
the trade-off curve on policyqa is from these held-out probabilities. The constants written into the
module are the fit on everything, from the command above (with the statute index; without it the
statute sets are left out and the fit differs). Prints the per-fold figures, the curves, the knee
and the docstring block.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from bench.helpers import ROOT
from bench.pq import SHARED, answerable_in_half, corpus_texts, load_questions
from bench.qa_cache import DEFAULT_CACHE, documents, retrievals

EVAL = SHARED / "eval"
ANSWER_FLOOR = 0.85  # issue 10: answer at least this share of the answerable policy questions
SEED = "tianjin-pilot-platform-reply-2024-04-25"

# Synthetic, written for this calibration: questions the seed document answers ...
SEED_QUESTIONS = [
    "天津布局建设了多少家概念验证平台？", "在高校院所和产业园区设置了多少名服务专员？",
    "全市累计有多少家科技企业孵化器？", "中试平台建设有什么支持政策？", "天津在中试平台建设方面开展了哪些工作？",
    "下一步工作安排是什么？", "科技担保余额是多少？", "科技保险提供了多少风险保障？",
    "全市科技型上市企业有多少家？", "技术转移机构发展了多少家？", "众创空间累计达到多少家？",
    "1+3+4现代化产业体系包括哪些产业？", "华熙生物医药级原料中试平台开展什么研发？", "如何推动校企对接？",
    "概念验证平台重点布局在哪些领域？", "耗能大的中试平台项目要做节能审查吗？", "政银担合作机制是做什么的？",
    "中试平台可以争取哪些金融支持？", "孵化机构场地面积有多大？", "南港工业区科创中心在建设吗？",
]
# ... and off-topic questions that share its words (places, 大学, 生物医药 …): none is answered by it.
OFF_TOPIC = [
    "明天天津天气怎么样", "北京的天气怎么样", "天津市的房价多少", "天津地铁几点停运", "北京到天津的高铁票多少钱",
    "天津有什么好吃的", "狗不理包子多少钱一个", "北京烤鸭哪家好吃", "天津大学录取分数线是多少", "南开大学怎么报考研究生",
    "天津今天限号吗", "天津出租车起步价多少", "天津的公园门票多少钱", "滨海新区的房子值得买吗", "北京明天会下雨吗",
    "天津的空气质量怎么样", "天津市长是谁", "天津有哪些旅游景点", "生物医药股票现在能买吗", "新能源汽车哪个牌子好",
    "天津到北京开车要多久", "中石化加油站今天油价多少", "天津的冬天冷不冷", "北京哪里有好玩的", "天津银行存款利率多少",
    "从天津寄快递到北京要几天", "天津大学食堂好吃吗", "天津的煎饼果子哪家正宗", "北京的地铁票价怎么算", "天津港怎么坐公交去",
]


def law_rows() -> list[dict[str, Any]]:
    rows = []
    for name in ("consult-dev.jsonl", "scenario-dev.jsonl"):
        rows += [json.loads(x) for x in (EVAL / name).read_text(encoding="utf-8").splitlines() if x.strip()]
    return rows


def law_questions() -> list[str]:
    return [r["question"] for r in law_rows()]


def retrieved_gold(records: list[dict[str, Any]], rows: list[dict[str, Any]], k: int = 5) -> list[int]:
    """1 when a gold article of the question is among the top k passages the product retrieved."""
    from assistant.numerals import canonical_article
    from bench.offline import gold_of

    out = []
    for row, record in zip(rows, records, strict=True):
        gold = gold_of(row)
        found = any((d.metadata.get("title"), canonical_article(a) or a) in gold
                    for d in documents(record)[:k] for a in str(d.metadata.get("articles", "")).split("、") if a)
        out.append(int(found))
    return out


def seed_index(folder: Path) -> Path:
    """An index of the seed document alone (built once, reused)."""
    if not (folder / "index").exists():
        from assistant.indexing.service import run_index
        from assistant.settings import Settings

        corpus = folder / "corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        for suffix in (".txt", ".meta.yaml"):
            shutil.copy(ROOT / "corpus" / f"{SEED}{suffix}", corpus / f"{SEED}{suffix}")
        run_index(Settings(corpus_dir=corpus, index_dir=folder / "index", data_dir=folder / "data", review_log=False))
    return folder / "index"


def signal_rows(index_dir: Path, questions: list[str], cache: Path) -> list[list[float]]:
    return record_signals(retrievals(index_dir, questions, cache))


def record_signals(records: list[dict[str, Any]]) -> list[list[float]]:
    from assistant.answer.answerability import signals

    out = []
    for record in records:
        df = record["df"]
        s = signals(record["keyword_text"] or record["question"], documents(record),
                    lambda t, df=df: int(df.get(t, 0)), int(record["n"]))
        out.append(s.vector())
    return out


def build_sets(args: argparse.Namespace) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rows = load_questions()
    labels = answerable_in_half(rows, corpus_texts())
    law = law_rows()
    laws = [r["question"] for r in law]
    seed = seed_index(args.seed_dir)
    sets: dict[str, tuple[list[list[float]], list[int]]] = {
        "policyqa": (signal_rows(args.half_index, [r["question"] for r in rows], args.cache), [int(x) for x in labels]),
        "law-on-policy": (signal_rows(args.half_index, laws, args.cache), [0] * len(laws)),
        "seed": (signal_rows(seed, SEED_QUESTIONS + OFF_TOPIC, args.cache),
                 [1] * len(SEED_QUESTIONS) + [0] * len(OFF_TOPIC)),
    }
    if args.statute_index is not None:
        # "all": every legal question is answerable there (the labels); "retrieved": only those
        # whose gold article the retrieval brings into the top 5 (what an extractive answer can cite).
        found = retrievals(args.statute_index, laws, args.cache)
        labels_law = [1] * len(laws) if args.statute_labels == "all" else retrieved_gold(found, law)
        sets["statute"] = (record_signals(found), labels_law)
        sets["policy-on-statute"] = (signal_rows(args.statute_index, [r["question"] for r in rows], args.cache),
                                     [0] * len(rows))
        sets["offtopic-on-statute"] = (signal_rows(args.statute_index, OFF_TOPIC, args.cache), [0] * len(OFF_TOPIC))
    return {k: (np.asarray(x, dtype=float), np.asarray(y)) for k, (x, y) in sets.items()}


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=2000).fit(x, y, sample_weight=w)


def weights(names: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each (set, label) group weighs in proportion to the square root of its size: the small
    hand-written lists count, the big sets count more."""
    w = np.ones(len(y))
    for name in set(names):
        for label in (0, 1):
            mask = (names == name) & (y == label)
            if mask.any():
                w[mask] = np.sqrt(mask.sum()) / mask.sum()
    return w * len(y) / w.sum()


def rates(p: np.ndarray, y: np.ndarray, t: float) -> tuple[float, float]:
    """(answered share of answerable, refused share of unanswerable) at threshold t."""
    ans = float((p[y == 1] >= t).mean()) if (y == 1).any() else float("nan")
    ref = float((p[y == 0] < t).mean()) if (y == 0).any() else float("nan")
    return ans, ref


def main() -> None:
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from assistant.answer.answerability import SIGNALS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--half-index", type=Path, required=True)
    parser.add_argument("--statute-index", type=Path, default=None,
                        help="statute index (bench/devindex.py); without it the statute set is left out")
    parser.add_argument("--statute-labels", choices=("all", "retrieved"), default="retrieved",
                        help="legal questions answerable on the statute index: all, or those whose gold "
                             "article is among the top 5 passages")
    parser.add_argument("--policy-weight", type=float, default=1.0,
                        help="multiplies the weight of the policyqa questions (the set with targets)")
    parser.add_argument("--seed-dir", type=Path, default=DEFAULT_CACHE / "seed")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    sets = build_sets(args)
    names = np.concatenate([[k] * len(v[1]) for k, v in sets.items()])
    x = np.concatenate([v[0] for v in sets.values()])
    y = np.concatenate([v[1] for v in sets.values()])
    w = weights(names, y) * np.where(names == "policyqa", args.policy_weight, 1.0)
    print("sets:", {k: f"{int(v[1].sum())} answerable / {int((v[1] == 0).sum())} not" for k, v in sets.items()})

    held = np.zeros(len(y))
    strata = np.char.add(names.astype(str), y.astype(str))
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0).split(x, strata)
    fold_rows = []
    for f, (train, test) in enumerate(folds):
        model = fit(x[train], y[train], w[train])
        held[test] = model.predict_proba(x[test])[:, 1]
        fold_rows.append((f, test))

    final = fit(x, y, w)
    coefs = dict(zip(SIGNALS, final.coef_[0], strict=True))
    print("\nfinal fit (all data):")
    print("COEFFICIENTS = {" + ", ".join(f'"{k}": {v:.3f}' for k, v in coefs.items()) + "}")
    print(f"INTERCEPT = {final.intercept_[0]:.3f}")

    pq = names == "policyqa"
    print("\nAUC (held out):", {k: round(float(roc_auc_score(y[names == k], held[names == k])), 3)
                                for k in ("policyqa",) if len(set(y[names == k])) > 1},
          "  coverage alone on policyqa:", round(float(roc_auc_score(y[pq], x[pq, 0])), 3),
          "  all sets:", round(float(roc_auc_score(y, held)), 3))

    print("\ntrade-off on policyqa dev, half index (held-out probabilities):")
    print("threshold  answered(answerable)  refused(unanswerable)  | off-topic refused  seed answered  "
          "law-on-policy refused  statute answered")
    curve = []
    for t in np.round(np.arange(0.05, 0.96, 0.05), 2):
        a, r = rates(held[pq], y[pq], t)
        sd = names == "seed"
        sa, sr = rates(held[sd], y[sd], t)
        _, lr = rates(held[names == "law-on-policy"], y[names == "law-on-policy"], t)
        la = rates(held[names == "statute"], y[names == "statute"], t)[0] if "statute" in sets else float("nan")
        curve.append((t, a, r, sr, sa, lr, la))
        print(f"  {t:.2f}     {a:6.1%}                {r:6.1%}                 | {sr:6.1%}            {sa:6.1%}"
              f"         {lr:6.1%}                 {la:6.1%}")

    if "statute" in sets:
        print(f"\non the statute index (legal questions labelled {args.statute_labels!r}; held-out probabilities):")
        print("threshold  legal answered(answerable)  legal refused(unanswerable)  policy refused  off-topic refused"
              "  | legal answered (all)  of them citing a gold article")
        for t in np.round(np.arange(0.05, 0.96, 0.05), 2):
            st = names == "statute"
            a, r = rates(held[st], y[st], t)
            pr = rates(held[names == "policy-on-statute"], y[names == "policy-on-statute"], t)[1]
            orf = rates(held[names == "offtopic-on-statute"], y[names == "offtopic-on-statute"], t)[1]
            answered = held[st] >= t
            cited = float(y[st][answered].mean()) if answered.any() else float("nan")
            print(f"  {t:.2f}     {a:6.1%}                     {r:6.1%}                       {pr:6.1%}"
                  f"          {orf:6.1%}            | {answered.mean():6.1%}                {cited:6.1%}")

    # Chosen on a grid of 0.01 (the table above steps by 0.05): the curve is flat near its top, and a
    # coarse grid would pick by where its steps happen to fall.
    fine = [(float(t), *rates(held[pq], y[pq], float(t))) for t in np.round(np.arange(0.05, 0.96, 0.01), 2)]

    def balance(row: tuple[float, ...]) -> float:
        return row[1] + row[2]  # answered + refused on policyqa

    free_knee = float(max(fine, key=balance)[0])
    # The default: the most answered + refused among the thresholds that still answer ANSWER_FLOOR of
    # the answerable (an enterprise asking what the index covers must get its answer first).
    chosen = max((row for row in fine if row[1] >= ANSWER_FLOOR), key=balance, default=(free_knee, 0.0, 0.0))
    knee = chosen[0]
    print(f"\nknee (max answered + refused on policyqa, 0.01 grid): {free_knee:.2f}; among thresholds answering "
          f">= {ANSWER_FLOOR:.0%}: {knee:.2f} (the default: {chosen[1]:.1%} answered, {chosen[2]:.1%} refused)")
    print("\nper fold at the default (held-out): answered(answerable) / refused(unanswerable) on policyqa; "
          "off-topic refused; seed answered")
    for f, test in fold_rows:
        m = np.zeros(len(y), bool)
        m[test] = True
        a, r = rates(held[m & pq], y[m & pq], knee)
        sa, sr = rates(held[m & (names == "seed")], y[m & (names == "seed")], knee)
        print(f"  fold {f}: {a:6.1%} / {r:6.1%}   {sr:6.1%}   {sa:6.1%}")
    fin = final.predict_proba(x)[:, 1]
    a, r = rates(fin[pq], y[pq], knee)
    sd = names == "seed"
    sa, sr = rates(fin[sd], y[sd], knee)
    print(f"\nfinal model at {knee:.2f} (in-sample): policyqa answered {a:.1%} refused {r:.1%}; seed answered {sa:.1%}, "
          f"off-topic refused {sr:.1%}")
    for q, p in zip(OFF_TOPIC + SEED_QUESTIONS, np.concatenate([fin[sd][len(SEED_QUESTIONS):], fin[sd][:len(SEED_QUESTIONS)]]),
                    strict=True):
        if (q in OFF_TOPIC) == (p >= knee):
            print(f"  wrong on seed: {q} p={p:.3f}")


if __name__ == "__main__":
    main()
