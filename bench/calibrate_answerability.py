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
the trade-off curves are from these held-out probabilities. The threshold rule (`choose_threshold`:
the most answered + refused on policyqa among thresholds answering ANSWER_FLOOR of the answerable)
is judged nested: for each outer fold the threshold is chosen from inner-fold held-out
probabilities of the other four folds, so the per-fold and pooled figures printed under "held
out, nested" are of questions neither the model nor the threshold saw; those are the result. The
constants written into the module and the default threshold are the same procedure on everything
(in-sample, printed beside). With --mixed-index and --default-index the same questions are judged
on a half index joined by the statutes and on the default corpus. Saved: bench/results/calibration.json.

    python -m bench.devindex policyqa-half --out /work/cache/idx/policyqa-half
    python -m bench.devindex statutes --out /work/cache/idx/statutes
    python -m bench.devindex policyqa-half+statutes --out /work/cache/idx/mixed
    python -m bench.devindex default --out /work/cache/idx/default
    python -m bench.calibrate_answerability --half-index /work/cache/idx/policyqa-half/index \
        --statute-index /work/cache/idx/statutes/index --mixed-index /work/cache/idx/mixed/index \
        --default-index /work/cache/idx/default/index
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from bench.helpers import ROOT, write_results
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


def choose_threshold(p: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(threshold, answered, refused) on policyqa: the most answered + refused among the thresholds
    (grid 0.01) that still answer ANSWER_FLOOR of the answerable (an enterprise asking what the index
    covers gets its answer first); the free knee when none does. A fine grid: the curve is flat near
    its top, and a coarse one would pick by where its steps happen to fall."""
    fine = [(float(t), *rates(p, y, float(t))) for t in np.round(np.arange(0.05, 0.96, 0.01), 2)]

    def balance(row: tuple[float, float, float]) -> float:
        return row[1] + row[2]

    free = max(fine, key=balance)
    return max((row for row in fine if row[1] >= ANSWER_FLOOR), key=balance, default=free)


def held_out(x: np.ndarray, y: np.ndarray, w: np.ndarray, strata: np.ndarray, folds: int,
             seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Probabilities of each row from the model fitted on the other folds, and the folds' rows."""
    from sklearn.model_selection import StratifiedKFold

    p = np.zeros(len(y))
    tests = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, strata):
        p[test] = fit(x[train], y[train], w[train]).predict_proba(x[test])[:, 1]
        tests.append(test)
    return p, tests


def nested(x: np.ndarray, y: np.ndarray, w: np.ndarray, names: np.ndarray, strata: np.ndarray,
           folds: int) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, float, Any]]]:
    """The whole procedure judged on questions it never saw: for each outer fold, the threshold is
    chosen from inner-fold held-out probabilities of the other folds, the model fitted on them, and
    both applied to the fold. Returns each row's decision (answer or not), its probability and the
    folds with their thresholds and models."""
    from sklearn.model_selection import StratifiedKFold

    decided, prob, out = np.zeros(len(y), bool), np.zeros(len(y)), []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(x, strata):
        inner, _ = held_out(x[train], y[train], w[train], strata[train], folds - 1, seed=1)
        pq = names[train] == "policyqa"
        t = choose_threshold(inner[pq], y[train][pq])[0]
        prob[test] = fit(x[train], y[train], w[train]).predict_proba(x[test])[:, 1]
        model = fit(x[train], y[train], w[train])
        prob[test] = model.predict_proba(x[test])[:, 1]
        decided[test] = prob[test] >= t
        out.append((test, t, model))
    return decided, prob, out


def other_indexes(args: argparse.Namespace, sets: dict[str, tuple[np.ndarray, np.ndarray]], names: np.ndarray,
                  outer: list[tuple[np.ndarray, float, Any]]) -> dict[str, Any]:
    """The same questions on other indexes, each judged by the model and threshold of the outer fold
    that held it out (so still held out): policyqa, the legal and the off-topic questions on the half
    index joined by the 378 laws (`--mixed-index`), and the seed's questions on the default corpus,
    the seed and five laws (`--default-index`). A legal question is answerable there as on the statute
    index (its gold article in the top 5); the others keep their labels."""
    law = law_rows()
    plans: list[tuple[str, Path, str, list[str], np.ndarray | None]] = []
    if args.mixed_index is not None:
        plans.append(("mixed", args.mixed_index, "policyqa", [r["question"] for r in load_questions()], None))
        if "statute" in sets:
            plans.append(("mixed", args.mixed_index, "statute", [r["question"] for r in law], np.asarray(
                retrieved_gold(retrievals(args.mixed_index, [r["question"] for r in law], args.cache), law))))
    if args.default_index is not None:
        plans.append(("default", args.default_index, "seed", SEED_QUESTIONS + OFF_TOPIC, None))
    result: dict[str, Any] = {}
    print("\nother indexes, held out (each question judged by its outer fold's model and threshold):")
    for index_name, index, kind, questions, labels in plans:
        xe = np.asarray(signal_rows(index, questions, args.cache), dtype=float)
        ye = sets[kind][1] if labels is None else labels
        rows_of_kind = np.flatnonzero(names == kind)  # global row numbers of the set, in question order
        decided = np.zeros(len(questions), bool)
        for test, t, model in outer:
            pos = np.flatnonzero(np.isin(rows_of_kind, test))
            if len(pos):
                decided[pos] = model.predict_proba(xe[pos])[:, 1] >= t
        ans = float(decided[ye == 1].mean()) if (ye == 1).any() else float("nan")
        ref = float((~decided[ye == 0]).mean()) if (ye == 0).any() else float("nan")
        base = names == kind
        print(f"  {index_name} index, {kind}: answered {ans:.1%} of {int((ye == 1).sum())} answerable, refused "
              f"{ref:.1%} of {int((ye == 0).sum())}")
        result[f"{index_name}/{kind}"] = {"answered": ans, "refused": ref, "answerable": int((ye == 1).sum()),
                                          "unanswerable": int((ye == 0).sum()), "rows": int(base.sum())}
    return result


def main() -> None:
    from sklearn.metrics import roc_auc_score

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
    parser.add_argument("--mixed-index", type=Path, default=None,
                        help="the half index joined by the statutes (bench/devindex.py policyqa-half+statutes)")
    parser.add_argument("--default-index", type=Path, default=None,
                        help="an index of corpus/ (the seed and five laws): the seed questions there")
    args = parser.parse_args()

    sets = build_sets(args)
    names = np.concatenate([[k] * len(v[1]) for k, v in sets.items()])
    x = np.concatenate([v[0] for v in sets.values()])
    y = np.concatenate([v[1] for v in sets.values()])
    w = weights(names, y) * np.where(names == "policyqa", args.policy_weight, 1.0)
    print("sets:", {k: f"{int(v[1].sum())} answerable / {int((v[1] == 0).sum())} not" for k, v in sets.items()})

    strata = np.char.add(names.astype(str), y.astype(str))
    held, _ = held_out(x, y, w, strata, args.folds)

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

    knee, answered_all, refused_all = choose_threshold(held[pq], y[pq])  # the rule on all the data
    print(f"\nthe rule on all data (the shipped default; its own figures are in-sample): {knee:.2f} "
          f"({answered_all:.1%} answered, {refused_all:.1%} refused on policyqa)")

    # Held out: the threshold and the model chosen inside each fold (nested), judged on the fold.
    decided, _, outer = nested(x, y, w, names, strata, args.folds)
    report: dict[str, Any] = {"folds": [], "sets": {k: {"answerable": int(v[1].sum()),
                                                       "unanswerable": int((v[1] == 0).sum())}
                                                   for k, v in sets.items()}}

    def shares(mask: np.ndarray) -> tuple[float, float]:
        ans = float(decided[mask & (y == 1)].mean()) if (mask & (y == 1)).any() else float("nan")
        ref = float((~decided[mask & (y == 0)]).mean()) if (mask & (y == 0)).any() else float("nan")
        return ans, ref

    print("\nheld out, nested (threshold and model chosen on the other folds): answered(answerable) / "
          "refused(unanswerable) per set")
    print("fold  threshold  " + "  ".join(f"{k:>21}" for k in sets))
    for f, (test, t, _) in enumerate(outer):
        m = np.zeros(len(y), bool)
        m[test] = True
        row = {k: shares(m & (names == k)) for k in sets}
        report["folds"].append({"fold": f, "threshold": t, **{k: list(v) for k, v in row.items()}})
        print(f"  {f}    {t:.2f}       " + "  ".join(f"{a:9.1%} / {r:9.1%}" for a, r in row.values()))
    pooled = {k: shares(names == k) for k in sets}
    report["pooled"] = {k: list(v) for k, v in pooled.items()}
    print("pooled           " + "  ".join(f"{a:9.1%} / {r:9.1%}" for a, r in pooled.values()))
    pa = [fold["policyqa"][0] for fold in report["folds"]]
    pr = [fold["policyqa"][1] for fold in report["folds"]]
    print(f"policyqa per-fold spread: answered {min(pa):.1%}–{max(pa):.1%}, refused {min(pr):.1%}–{max(pr):.1%}")
    report["rule_on_all"] = {"threshold": knee, "policyqa_answered_in_sample": answered_all,
                             "policyqa_refused_in_sample": refused_all}
    report["coefficients"] = {k: float(v) for k, v in coefs.items()}
    report["intercept"] = float(final.intercept_[0])
    report["other_indexes"] = other_indexes(args, sets, names, outer)
    write_results("calibration", report)
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
