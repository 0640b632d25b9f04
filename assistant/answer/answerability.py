"""Whether the retrieved passages answer the question: a small logistic model over explained signals.

A single coverage threshold fails on real out-of-scope questions because they share vocabulary
with the corpus (天津 in a weather question). The signals below look at the question from several
sides; each is 0..1 and computed from the top passages of the served retrieval plus the index's
keyword vocabulary, so they do not depend on how chunks are cut or how rankings are fused:

- coverage: IDF-weighted share of the question's words in the best passage (with its title and
  heading path), general-language IDF (assistant/answer/evidence.py).
- specific: share of the question's specific terms (places, bodies, programme names, figures,
  dates, domain terms; assistant/answer/question.py) found in the best passage, title or heading.
- unknown: IDF-weighted share of the question's words that occur nowhere in the index (天气).
- missing: how specific (index IDF, 0..1) the rarest question word is that the best passage lacks.
- dense: the best cosine similarity of a top passage to the question.
- keyword: the best BM25 score relative to the most the question's words could score.
- agreement: share of the top passages that both the dense and the keyword side retrieved.
- type_match: the best passage holds what the question asks for (a figure, a date, a body).

COEFFICIENTS and INTERCEPT are fitted by `bench/calibrate_answerability.py` (the calibration table
is at the end of this docstring); p = sigmoid(INTERCEPT + Σ coef·signal); the assistant answers when
p >= settings.min_answerability.

CALIBRATION (`python -m bench.calibrate_answerability --half-index … --statute-index … --seed-dir …`,
2026-11-29, on the retrieval of issue 11: article chunks, document BM25 in the fusion). Sets:
policyqa dev on the half index (190 answerable / 149 not); consult-dev + scenario-dev on the policy
half index (458, unanswerable) and on a statute index (378 laws, 26,110 article chunks); policyqa dev
and the off-topic questions on that statute index (unanswerable); the seed's own questions (20) and
off-topic questions that share its words (30) on the seed index. Five folds stratified by set and
label, sample weights √(group size), policyqa (the set the targets are on) weighted twice (once:
85.8 % / 73.8 % at 0.50, too close to the floor); held-out probabilities.

A legal question counts as answerable on the statute index when the served retrieval brings one of
its gold articles into the top 5 passages (162 of 458): that is what an extractive answer can cite.
Labelled answerable whatever the retrieval finds (`--statute-labels all`), the colloquial questions
whose articles are not retrieved look like the unanswerable ones (coverage 0.21, as the off-topic
questions), and no threshold meets the policyqa targets (held out: 86.3 % answered / 63.1 % refused
at 0.50, 78.4 % / 73.2 % at 0.55).
Coverage, unknown and missing count each question word once, in its longest form (南开大学, not also
南开 / 开大 / 大学): with the parts counted, a name outweighed what was asked about it.

    AUC (held out): {'policyqa': 0.859}   coverage alone on policyqa: 0.866   all sets: 0.901

    trade-off on policyqa dev, half index (held-out probabilities):
    threshold  answered(answerable)  refused(unanswerable)  | off-topic refused  seed answered  law-on-policy refused  statute answered
      0.05      99.5%                  6.0%                 |  23.3%            100.0%          45.0%                  97.5%
      0.10      98.4%                 13.4%                 |  43.3%            100.0%          71.8%                  90.7%
      0.15      97.4%                 20.8%                 |  80.0%            100.0%          85.6%                  85.8%
      0.20      96.3%                 26.8%                 |  90.0%             95.0%          92.6%                  70.4%
      0.25      95.3%                 32.2%                 |  96.7%             95.0%          96.9%                  61.1%
      0.30      94.7%                 42.3%                 |  96.7%             95.0%          98.0%                  50.6%
      0.35      93.7%                 49.7%                 | 100.0%             95.0%          98.9%                  41.4%
      0.40      92.1%                 57.7%                 | 100.0%             95.0%          99.3%                  35.8%
      0.45      87.4%                 64.4%                 | 100.0%             95.0%          99.6%                  28.4%
      0.50      87.4%                 75.8%                 | 100.0%             95.0%         100.0%                  24.1%
      0.55      81.6%                 77.9%                 | 100.0%             95.0%         100.0%                  20.4%
      0.60      77.4%                 83.2%                 | 100.0%             95.0%         100.0%                  17.3%
      0.65      68.9%                 86.6%                 | 100.0%             90.0%         100.0%                  11.7%
      0.70      64.2%                 87.9%                 | 100.0%             85.0%         100.0%                   9.3%
      0.75      56.8%                 90.6%                 | 100.0%             80.0%         100.0%                   6.8%
      0.80      45.8%                 94.0%                 | 100.0%             75.0%         100.0%                   4.3%
      0.85      31.6%                 96.6%                 | 100.0%             30.0%         100.0%                   2.5%
      0.90      17.9%                 97.3%                 | 100.0%             10.0%         100.0%                   1.2%
      0.95       1.6%                100.0%                 | 100.0%              0.0%         100.0%                   0.0%

    on the statute index (legal questions labelled 'retrieved'; held-out probabilities):
    threshold  legal answered(answerable)  legal refused(unanswerable)  policy refused  off-topic refused
      0.05      97.5%                      29.7%                        30.1%           50.0%
      0.10      90.7%                      52.0%                        49.3%           66.7%
      0.15      85.8%                      62.8%                        68.4%           76.7%
      0.20      70.4%                      75.0%                        79.4%           80.0%
      0.25      61.1%                      80.7%                        84.4%           86.7%
      0.30      50.6%                      87.8%                        87.9%           90.0%
      0.35      41.4%                      92.2%                        92.6%           96.7%
      0.40      35.8%                      93.9%                        93.8%           96.7%
      0.45      28.4%                      95.6%                        96.2%          100.0%
      0.50      24.1%                      95.9%                        96.8%          100.0%
      0.55      20.4%                      97.3%                        97.6%          100.0%
      0.60      17.3%                      98.0%                        97.6%          100.0%
      0.65      11.7%                      98.3%                        97.9%          100.0%
      0.70       9.3%                      98.6%                        98.8%          100.0%
      0.75       6.8%                      99.3%                        99.4%          100.0%
      0.80       4.3%                      99.7%                        99.7%          100.0%
      0.85       2.5%                     100.0%                        99.7%          100.0%
      0.90       1.2%                     100.0%                        99.7%          100.0%
      0.95       0.0%                     100.0%                       100.0%          100.0%

    knee (max answered + refused on policyqa): 0.50; among thresholds answering >= 85%: 0.50 (the default)

    per fold at the default (held-out): answered(answerable) / refused(unanswerable) on policyqa; off-topic refused; seed answered
      fold 0:  84.2% /  70.0%   100.0%   100.0%
      fold 1:  94.7% /  63.3%   100.0%   100.0%
      fold 2:  89.5% /  73.3%   100.0%   100.0%
      fold 3:  84.2% /  83.3%   100.0%    75.0%
      fold 4:  84.2% /  89.7%   100.0%   100.0%

    final model at 0.50 (in-sample): policyqa answered 85.8% refused 77.2%; seed answered 95.0%, off-topic refused 100.0%
      wrong on seed: 孵化机构场地面积有多大？ p=0.204 (the passage says 场地达到180万平米: no 面积)

On the statute index with these coefficients at 0.50 (in-sample): 11.6 % of the legal questions are
answered (consult 6.4 %, scenario 25.0 %; 24.7 % of those whose gold article is retrieved, 4.4 % of
the others), and of the answered 75.5 % cite a gold article (62.3 % first); no off-topic question
and 3.2 % of the policy questions are answered there. Before the statute side joined the fit the
default answered 2.2 % of the legal questions there. Dense similarity now carries weight (4.2 per
unit of cosine): its scale is the model's, so a deployment on another model re-runs this calibration.

Default min_answerability 0.50: held out, policyqa answers 87.4 % of the answerable and refuses
75.8 % of the unanswerable (targets 85 % / 65 %); every off-topic seed question is refused (from
0.35 up). Lower the setting to answer more (0.40: 92.1 % / 57.7 %), raise it to refuse more (0.60:
77.4 % / 83.2 %).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from langchain_core.documents import Document

from assistant.answer.evidence import coverage, term_weights
from assistant.answer.question import holds_type, question_type, specific_terms, term_in
from assistant.store.keyword import tokenize

TOP = 5  # passages looked at (the ones an answer draws on)
BM25_K1 = 1.2

SIGNALS = ("coverage", "specific", "unknown", "missing", "dense", "keyword", "agreement", "type_match")
COEFFICIENTS: dict[str, float] = {
    "coverage": 4.767, "specific": -0.362, "unknown": 0.542, "missing": -0.235, "dense": 4.172, "keyword": 2.773,
    "agreement": 2.065, "type_match": 0.155,
}
INTERCEPT = -8.217


@dataclass(frozen=True)
class Signals:
    coverage: float
    specific: float
    unknown: float
    missing: float
    dense: float
    keyword: float
    agreement: float
    type_match: float

    def vector(self) -> list[float]:
        return [getattr(self, name) for name in SIGNALS]

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def passage_text(doc: Document) -> str:
    meta = doc.metadata
    return f"{meta.get('title', '')} {meta.get('locator', '')} {doc.page_content}"


def _index_idf(df: int, n: int) -> float:
    """0..1: 1 for a word in no chunk, 0 for a word in every chunk."""
    if n <= 0:
        return 1.0
    return math.log((n + 1) / (df + 0.5)) / math.log((n + 1) / 0.5)


def signals(question: str, docs: Sequence[Document], doc_freq: Callable[[str], int], n_chunks: int) -> Signals:
    """The signals of one question against its retrieved passages (see the module docstring).

    `question` is the scaffolding-stripped question; `doc_freq(token)` is the number of chunks of
    the index holding a token (0 when none does), `n_chunks` their count."""
    tokens = list(dict.fromkeys(tokenize(question)))
    # Each word of the question counts once, in its longest form: search-mode tokens split 南开大学
    # into 南开, 开大, 大学 as well, and a name would then outweigh what is asked about it.
    words = [t for t in tokens if not any(t != o and t in o for o in tokens)]
    weights = term_weights(tokens)
    top = list(docs[:TOP])
    texts = [passage_text(d) for d in top]
    covers = [coverage(words, t, weights) for t in texts]
    best = max(range(len(top)), key=lambda i: covers[i]) if top else -1
    best_text = texts[best] if top else ""
    cov = covers[best] if top else 0.0

    specific = specific_terms(question)
    if specific:
        spec = max((sum(term_in(s, t) for s in specific) / len(specific) for t in texts), default=0.0)
    else:
        spec = cov

    total = sum(weights.get(t, 0.0) for t in words)
    dfs = {t: doc_freq(t) for t in tokens}
    unknown = sum(weights.get(t, 0.0) for t in words if dfs[t] == 0) / total if total else 0.0
    best_tokens = set(tokenize(best_text))
    missing_terms = [t for t in words if weights.get(t, 0.0) > 0 and t not in best_tokens and t not in best_text]
    missing = max((_index_idf(dfs[t], n_chunks) for t in missing_terms), default=0.0)

    dense = max((float(d.metadata.get("dense") or 0.0) for d in top), default=0.0)
    bm25_max = sum(math.log(1 + (n_chunks - dfs[t] + 0.5) / (dfs[t] + 0.5)) * (BM25_K1 + 1)
                   for t in tokens if dfs[t] > 0)
    keyword = max((float(d.metadata.get("keyword") or 0.0) for d in top), default=0.0)
    keyword = min(1.0, keyword / bm25_max) if bm25_max > 0 else 0.0
    both = sum(1 for d in top if (d.metadata.get("dense") or 0) > 0 and (d.metadata.get("keyword") or 0) > 0)
    agreement = both / len(top) if top else 0.0
    type_match = 1.0 if top and holds_type(question_type(question), top[best].page_content) else 0.0
    return Signals(cov, spec, unknown, missing, dense, keyword, agreement, type_match)


def probability(s: Signals, coefficients: dict[str, float] | None = None, intercept: float | None = None) -> float:
    """P(answerable) under the fitted model."""
    coefficients = COEFFICIENTS if coefficients is None else coefficients
    z = (INTERCEPT if intercept is None else intercept) + sum(coefficients[k] * getattr(s, k) for k in SIGNALS)
    return 1.0 / (1.0 + math.exp(-z))
