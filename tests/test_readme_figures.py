"""Every measured figure in README.md has a saved benchmark run behind it (issue 25).

The rule, in full in bench/readme_figures.py: figures stand in blocks that open with
`<!-- figures: bench/results/X.json (LABEL) -->` and close with `<!-- /figures -->`; LABEL is
`held out`, `in-sample`, `held out + in-sample` or `measurement`, and the block's text says it.
Inside a block every number with a decimal point, a unit (%, ms, s, min, KiB, MiB, GiB, MB, GB) or
in a count pair (N of M, N / M) must equal, at the README's rounding, a number saved in one of the
named files; numbers in `code`, joined to names or dates (R@10, k=60, 2026-12-04) and bounds
(≤ 1.15, target 0.95) are not figures. Outside blocks a number in ms or %, or after a metric's name
(R@10, p50, F, hit …), fails. A figure with no saved run is left out and a
`<!-- pending: COMMAND — what -->` marker names the run that will give it: pending markers are
reported as warnings, never failures. Reads only README.md and bench/results/*.json: no model.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from bench.helpers import ROOT, write_results
from bench.readme_figures import check, figures_in


def test_every_readme_figure_has_a_saved_value() -> None:
    report = check(ROOT / "README.md", ROOT)
    if report.pending:  # shown in pytest's warnings summary, never a failure
        warnings.warn("README figures pending a saved run:\n" + "\n".join(
            f"  README.md:{line}: {what}" for line, what in report.pending), UserWarning, stacklevel=1)
    assert report.blocks and report.figures > 100, "the README's figures blocks were not found"
    assert not report.problems, "\n".join(report.problems)


def test_the_benchmarks_stamp_date_commit_and_load(tmp_path: Path) -> None:
    path = write_results("x", {"figure": 0.5}, path=tmp_path / "x.json")
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["benchmark"] == "x" and saved["figure"] == 0.5 and saved["taken"][:2] == "20"
    assert saved["cpus"] and isinstance(saved["load_1min"], float) and {"load_5min", "load_15min"} <= set(saved)
    if (ROOT / ".git").exists():  # a checkout (a worktree's .git is a file)
        assert len(saved["commit"]) == 40 and isinstance(saved["dirty"], bool)


# --- the rule, on a README and results of our own -------------------------------------------------

def _check(tmp_path: Path, readme: str, results: dict[str, object] | None = None) -> list[str]:
    (tmp_path / "bench" / "results").mkdir(parents=True, exist_ok=True)
    saved = {"hit": 0.74583, "answered": 0.9001, "p50_ms": 228.4, "peak_rss": 1423241216, "kept": 1996,
             "events": ["PostgreSQL restarted at 13 s"], "model": "qwen2.5-coder-0.5b"}
    (tmp_path / "bench" / "results" / "x.json").write_text(json.dumps(results or saved), encoding="utf-8")
    (tmp_path / "README.md").write_text(readme, encoding="utf-8")
    return check(tmp_path / "README.md", tmp_path).problems


def _block(text: str, label: str = "in-sample") -> str:
    return f"<!-- figures: bench/results/x.json ({label}) -->\n{text}\n<!-- /figures -->\n"


def test_figures_match_at_the_readmes_rounding_and_unit(tmp_path: Path) -> None:
    text = ("In-sample: hit 0.746, answered 90.0 % (90 %), p50 228 ms (0.23 s), peak RSS 1.33 GiB "
            "(1,357 MiB), restarted at 13 s, 1996 of 1996 kept.")
    assert _check(tmp_path, _block(text)) == []


@pytest.mark.parametrize("figure", ["0.747", "91.0 %", "229 ms", "1.4 GiB", "1995 of 1996", "0.5", "14 s"])
def test_a_figure_with_no_saved_value_fails_naming_it_and_its_line(tmp_path: Path, figure: str) -> None:
    problems = _check(tmp_path, "# title\n\n" + _block(f"In-sample: {figure}."))
    assert len(problems) == 1 and problems[0].startswith("README.md:4:") and repr(figure.split(" of ")[0]) in problems[0]


def test_names_dates_code_bounds_and_plain_counts_are_not_figures() -> None:
    line = ("R@10 / MRR@10, doc@5, k=60, m3e-small, e5-small, folds 0-2, 2026-12-04, 80亿元, Qwen2.5, 0.5B, "
            "`ASSISTANT_X` `0.53`, ≤ 1.15, < 40 ms, >= 80 %, target 0.95, 378 laws, 60/minute, issue 11")
    assert figures_in(line, 1) == []
    assert [f.text for f in figures_in("consult −0.04, 20 ms → 228 ms, 40 / 40, 1,110 MiB", 1)] == [
        "−0.04", "20 ms", "228 ms", "40", "40", "1,110 MiB"]


def test_every_block_names_a_saved_file_and_says_its_label(tmp_path: Path) -> None:
    assert "never says 'in-sample'" in _check(tmp_path, _block("hit 0.746"))[0]
    assert "needs a label" in _check(tmp_path, "<!-- figures: bench/results/x.json -->\nhit 0.746\n<!-- /figures -->\n")[0]
    assert "does not exist" in _check(tmp_path, _block("In-sample: 0.746").replace("x.json", "y.json"))[0]
    assert "not closed" in _check(tmp_path, "<!-- figures: bench/results/x.json (held out) -->\nheld out\n")[0]
    assert _check(tmp_path, _block("hit 0.746 on a set nothing was fitted on (held out)", "held out")) == []
    assert _check(tmp_path, _block("load time 13 s", "measurement")) == []


def test_figures_outside_blocks_fail_and_pending_markers_are_listed(tmp_path: Path) -> None:
    problems = _check(tmp_path, "The search takes 36 ms, R@10 0.33, answers 90 %.\n\nSettings: 0.53, 256 KiB, 60 s.\n")
    assert [p.split("figure ")[1].split(" is")[0] for p in problems] == ["'36 ms'", "'0.33'", "'90 %'"]
    readme = "Search p50: pending.\n<!-- pending: python -m bench.retrieval --parts api — search p50 -->\n"
    assert _check(tmp_path, readme) == []
    report = check(tmp_path / "README.md", tmp_path)
    assert report.pending == [(2, "python -m bench.retrieval --parts api — search p50")]
