"""Every measured figure in README.md comes from a saved benchmark run (issue 25).

    python -m bench.readme_figures [README.md]     # prints the blocks, the pending runs; exit 1 on a problem
    python -m bench.readme_figures --explain       # also each figure and the saved values it matches

The convention (tests/test_readme_figures.py runs this check):

- Figures stand in a *figures block*: a line `<!-- figures: FILE[, FILE…] (LABEL) -->`, the text,
  then a line `<!-- /figures -->`. FILE is a JSON file under bench/results/ that a benchmark wrote
  (`bench.helpers.write_results`: date, commit, load); LABEL says what the figures are:
  `held out` (cross-validated with every choice made inside each fold, or on a set nothing was
  fitted on), `in-sample` (something was chosen or fitted on the same questions),
  `held out + in-sample` (both kinds; the text says which is which) or `measurement` (times,
  memory, throughput, counts of a run: nothing fitted, so neither applies). The block's visible
  text must say "held out" (or "held-out") and/or "in-sample" as its label does.
- Inside a block, a *figure* is a number written with a decimal point (0.746), with a unit
  (90.0 %, 228 ms, 1.2 s, 1,110 MiB, 1.33 GiB) or as a count pair (1996 of 1996, 40 / 40). Not
  figures: numbers inside `inline code`, numbers joined to a name or a date (R@10, k=60, doc@5,
  m3e, e5-small, folds 0-2, 2026-12-04, 80亿元), and bounds after <, >, ≤, ≥ or "target".
  Every figure must equal, at the README's rounding, some number in one of the block's files
  (numbers inside its strings count; the stamp does not): 0.746 matches 0.74583; 90.0 % matches
  0.9001 or 90.0; 228 ms matches 228.4, or 0.2284 under a key that names seconds (…_s, seconds);
  1.33 GiB matches 1.3255, or 1423241216 under a key that names bytes (peak_rss).
- Outside blocks (code blocks included, inline code not), a number in ms or %, or right after a
  metric's name (R@10, MRR@10, doc@1, hit@5, p50, p95, ROUGE-L, F, hit), is a figure without a
  source: the check fails.
- A figure that has no saved run yet is left out, and a marker `<!-- pending: COMMAND — what it
  will give -->` says which run will give it. Pending markers never fail the check; it lists them.

Settings (60/minute, 256 KiB, 0.53), version numbers, dates, article and issue numbers, and sizes of
a described corpus (378 laws, 26,110 chunks) stay outside blocks or are not figures by the rule
above. The match is by value within each named file (any key), so keep a block's files few, and
`--explain` shows which saved value each figure matched.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"held out": ("held out",), "in-sample": ("in-sample",),
          "held out + in-sample": ("held out", "in-sample"), "measurement": ()}
STAMP_KEYS = {"benchmark", "taken", "commit", "dirty", "cpus", "load_1min", "load_5min", "load_15min"}

OPEN = re.compile(r"^\s*<!--\s*figures:\s*(?P<body>.*?)\s*-->\s*$")
CLOSE = re.compile(r"^\s*<!--\s*/figures\s*-->\s*$")
PENDING = re.compile(r"<!--\s*pending:\s*(?P<what>.*?)\s*-->", re.S)
COMMENT = re.compile(r"<!--.*?-->", re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")

# A number: not joined to a name, a date or another number on either side (\w covers CJK too).
NUMBER = re.compile(r"(?<![\w@=.+/–-])(?P<sign>[−-](?=\d))?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
                    r"(?![\w@=+]|\.\d|[/–-][\w])")
UNIT = re.compile(r"\s?(?P<unit>%|ms|s|min|KiB|MiB|GiB|MB|GB)(?![\w/])")
PAIR_AFTER = re.compile(r"\s+(?:/|of)\s+\d")
PAIR_BEFORE = re.compile(r"\d\s+(?:/|of)\s+$")
BOUND = re.compile(r"(?:[<>≤≥]=?|\btargets?)\s*$")
METRIC = re.compile(r"(?:(?:\b(?:R|MRR|doc|hit|span)@\d+)|\bp\d\d|\bROUGE-L(?: [FPR])?|\bF|\bhit)\s*:?\s*$")

# Units as multiples of a base (seconds, bytes): a saved value is converted only from the unit its key
# names (p50_ms, load_s, seconds, peak_rss_mib, peak_rss_gib, peak_rss in bytes) to the figure's.
UNITS = {"ms": ("time", 1e-3), "s": ("time", 1.0), "min": ("time", 60.0), "B": ("memory", 1.0),
         "KiB": ("memory", 2.0**10), "MiB": ("memory", 2.0**20), "GiB": ("memory", 2.0**30),
         "MB": ("memory", 1e6), "GB": ("memory", 1e9)}


def key_unit(key: str) -> str | None:
    """The unit a results key names, if any (a rate such as answered_per_s names none)."""
    key = key.lower()
    if "per_" in key:
        return None
    for suffix, unit in (("_ms", "ms"), ("_mib", "MiB"), ("_gib", "GiB"), ("_s", "s")):
        if key.endswith(suffix):
            return unit
    if "seconds" in key or key in ("wall", "cpu"):
        return "s"
    return "B" if "rss" in key else None


@dataclass
class Figure:
    line: int
    text: str  # as written, with its unit
    value: float
    decimals: int
    unit: str | None


@dataclass
class Block:
    line: int
    sources: list[str]
    label: str
    end: int = 0
    lines: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Report:
    blocks: list[Block] = field(default_factory=list)
    figures: int = 0
    pending: list[tuple[int, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sources: list[tuple[Figure, list[str]]] = field(default_factory=list)  # each figure and where it is saved


def prose(text: str) -> str:
    """The line with its `inline code` blanked out (same length, so positions hold)."""
    return INLINE_CODE.sub(lambda m: " " * len(m.group()), text)


def numbers(text: str) -> Iterator[tuple[re.Match[str], str | None]]:
    """The numbers of one line of prose (code already blanked) that are not names, dates or bounds,
    with their units."""
    for m in NUMBER.finditer(text):
        if BOUND.search(text[: m.start()]):
            continue
        unit = UNIT.match(text, m.end())
        yield m, unit.group("unit") if unit else None


def figures_in(text: str, line: int) -> list[Figure]:
    """The figures of one line of a block: a decimal point, a unit or one side of a count pair."""
    found = []
    text = prose(text)
    for m, unit in numbers(text):
        raw = m.group("num")
        pair = PAIR_AFTER.match(text, m.end()) or PAIR_BEFORE.search(text[: m.start()])
        if "." not in raw and unit is None and not pair:
            continue
        value = float(raw.replace(",", "")) * (-1 if m.group("sign") else 1)
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        shown = m.group() + (f" {unit}" if unit else "")
        found.append(Figure(line, shown, value, decimals, unit))
    return found


def unsourced_in(text: str, line: int) -> list[str]:
    """Figures in prose outside any block: a number in ms or %, or right after a metric's name."""
    text = prose(text)
    return [m.group() + (f" {unit}" if unit else "") for m, unit in numbers(text)
            if unit in ("ms", "%") or METRIC.search(text[: m.start()])]


@dataclass
class Saved:
    where: str  # file#key/key[i]
    value: float
    unit: str | None  # the unit its key names


def saved_values(path: Path) -> list[Saved]:
    """Every number in a results file with where it is and the unit its key names, numbers inside its
    strings included, the stamp left out."""
    values: list[Saved] = []

    def walk(x: Any, where: str, unit: str | None) -> None:  # a key's unit holds for what is under it
        if isinstance(x, dict):
            for k, v in x.items():
                if not (where.endswith("#") and k in STAMP_KEYS):
                    walk(v, f"{where}{'' if where.endswith('#') else '/'}{k}", key_unit(str(k)) or unit)
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{where}[{i}]", unit)
        elif isinstance(x, bool) or x is None:
            return
        elif isinstance(x, int | float):
            if math.isfinite(x):
                values.append(Saved(where, float(x), unit))
        elif isinstance(x, str):
            # by the README's rule: "restarted at 13 s" holds 13, "qwen2.5-coder-0.5b" holds nothing
            values.extend(Saved(where, float(m.group("num").replace(",", "")), None) for m in NUMBER.finditer(x))

    walk(json.loads(path.read_text(encoding="utf-8")), f"{path.name}#", None)
    return values


def candidates(saved: Saved, unit: str | None) -> list[float]:
    """The saved value as the figure may show it: as is, as a percentage, or converted from its key's unit."""
    out = [saved.value]
    if unit == "%":
        out.append(saved.value * 100)
    if saved.unit and unit in UNITS and saved.unit != unit and UNITS[saved.unit][0] == UNITS[unit][0]:
        out.append(saved.value * UNITS[saved.unit][1] / UNITS[unit][1])
    return out


def matching(figure: Figure, values: list[Saved]) -> list[str]:
    """Where the saved values equal the figure at the README's rounding (half a unit of its last digit)."""
    tolerance = 0.5 * 10 ** -figure.decimals * (1 + 1e-9) + 1e-12
    return [s.where for s in values if any(abs(x - figure.value) <= tolerance for x in candidates(s, figure.unit))]


def parse_marker(body: str) -> tuple[list[str], str | None]:
    m = re.fullmatch(r"(?P<files>.*?)\s*\((?P<label>[^()]*)\)", body)
    if not m:
        return [f for f in re.split(r"[,\s]+", body) if f], None
    return [f for f in re.split(r"[,\s]+", m.group("files")) if f], m.group("label").strip()


def check(readme: Path = ROOT / "README.md", root: Path = ROOT) -> Report:
    """Check one README against the saved results under `root`; see the module's docstring."""
    report = Report()
    text = readme.read_text(encoding="utf-8")
    name = readme.name
    for m in PENDING.finditer(prose(text)):  # a marker quoted in `code` is not one
        report.pending.append((text.count("\n", 0, m.start()) + 1, " ".join(m.group("what").split())))
    lines = text.splitlines()
    block: Block | None = None
    comment = False
    for number, line in enumerate(lines, 1):
        opened, closed = OPEN.match(line), CLOSE.match(line)
        if opened:
            if block:
                report.problems.append(f"{name}:{number}: a figures block opens inside the block of line {block.line}")
            files, label = parse_marker(opened.group("body"))
            block = Block(number, files, label or "")
            report.blocks.append(block)
            if label not in LABELS:
                report.problems.append(f"{name}:{number}: the figures marker needs a label, one of "
                                       f"{', '.join(f'({k})' for k in LABELS)}; it has {label!r}")
            continue
        if closed:
            if not block:
                report.problems.append(f"{name}:{number}: <!-- /figures --> closes no block")
            else:
                block.end = number
            block = None
            continue
        # what a reader sees: HTML comments (pending markers among them) are not figures
        visible = line
        if comment:
            end = visible.find("-->")
            visible, comment = ("", True) if end < 0 else (visible[end + 3:], False)
        visible = COMMENT.sub(" ", visible)
        if "<!--" in visible:
            visible, comment = visible[: visible.index("<!--")], True
        if block:
            block.lines.append((number, visible))
            continue
        for shown in unsourced_in(visible, number):
            report.problems.append(f"{name}:{number}: figure {shown!r} is outside any figures block "
                                   f"(mark its source: <!-- figures: bench/results/….json (label) -->)")
    if block:
        report.problems.append(f"{name}:{block.line}: the figures block is not closed (<!-- /figures -->)")

    for block in report.blocks:
        values: list[Saved] = []
        for source in block.sources:
            path = root / source
            if not (source.startswith("bench/results/") and source.endswith(".json")):
                report.problems.append(f"{name}:{block.line}: {source} is not a bench/results/*.json file")
            elif not path.is_file():
                report.problems.append(f"{name}:{block.line}: {source} does not exist")
            else:
                try:
                    values += saved_values(path)
                except ValueError as error:
                    report.problems.append(f"{name}:{block.line}: {source} is not JSON ({error})")
        if not block.sources:
            report.problems.append(f"{name}:{block.line}: the figures marker names no results file")
        seen = " ".join(t for _, t in block.lines).lower().replace("held-out", "held out")
        for word in LABELS.get(block.label, ()):
            if word not in seen:
                report.problems.append(f"{name}:{block.line}: the block is labelled {block.label!r} but its text "
                                       f"never says {word!r}")
        for number, visible in block.lines:
            for figure in figures_in(visible, number):
                report.figures += 1
                found = matching(figure, values)
                report.sources.append((figure, found))
                if not found:
                    report.problems.append(f"{name}:{number}: figure {figure.text!r} is in no saved value of "
                                           f"{', '.join(block.sources)}")
    return report


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--explain"]
    readme = Path(args[0]) if args else ROOT / "README.md"
    report = check(readme, ROOT)
    if "--explain" in sys.argv:  # each figure and the saved values it matches
        for figure, found in report.sources:
            more = f" (+{len(found) - 3} more)" if len(found) > 3 else ""
            print(f"  {figure.line}: {figure.text:>10}  {', '.join(found[:3]) or '-'}{more}")
    for block in report.blocks:
        print(f"line {block.line}-{block.end}: ({block.label}) {', '.join(block.sources)}")
    print(f"{report.figures} figures in {len(report.blocks)} blocks checked")
    for number, what in report.pending:
        print(f"pending (line {number}): {what}")
    for problem in report.problems:
        print(f"PROBLEM {problem}")
    sys.exit(1 if report.problems else 0)


if __name__ == "__main__":
    main()
