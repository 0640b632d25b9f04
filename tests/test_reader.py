"""The answer reader: its training groups, its setting, and the composer quoting the unit it picks.

Texts are synthetic and say so (合成示例)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from langchain_core.documents import Document

from assistant.answer.extractive import Unit, compose
from assistant.answer.reader import reader_for, unit_pair
from assistant.errors import AssistantError
from training.reading import policy_reading_groups, squad_reading_groups

CONTEXT = ("合成示例：蓝色工厂建于1990年。工厂共有工人三百名，分为四个车间。"
           "第一车间生产齿轮。第二车间生产螺丝。工厂的产品销往十个国家。")


def squad_file(tmp_path: Path) -> Path:
    answer = "三百名"
    data = {"data": [{"title": "合成示例工厂", "paragraphs": [{"context": CONTEXT, "qas": [
        {"id": "q1", "question": "合成问题：工厂有多少工人？",
         "answers": [{"text": answer, "answer_start": CONTEXT.index(answer)}]}]}]}]}
    path = tmp_path / "synthetic.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_reading_group_puts_the_unit_holding_the_answer_first(tmp_path: Path) -> None:
    groups = squad_reading_groups([(squad_file(tmp_path), False)], random.Random(0), size=4)
    assert len(groups) == 1
    group = groups[0]
    assert group.query == "合成问题：工厂有多少工人？" and len(group.passages) == 4
    assert group.passages[0].startswith("工厂共有工人三百名，分为四个车间。｜")
    # the negatives are other sentences of the same context, never the answer's
    assert all("三百名" not in p.split("｜")[0] for p in group.passages[1:])
    assert all(p.split("｜")[0] in CONTEXT for p in group.passages[1:])


def test_policy_groups_take_the_best_unit_and_skip_questions_no_unit_answers() -> None:
    units = [{"text": f"合成句子{i}。", "ctx": "合成标题", "f": f} for i, f in enumerate([0.9, 0.1, 0.0, 0.2, 0.05, 0.3])]
    records = [{"q": "合成问题甲", "fold": 1, "units": units},
               {"q": "合成问题乙", "fold": 2, "units": [{**u, "f": 0.1} for u in units]}]
    groups = policy_reading_groups(records, random.Random(0), size=4, repeats=2)
    assert [g.query for g in groups] == ["合成问题甲", "合成问题甲"]
    assert all(g.passages[0] == unit_pair("合成句子0。", "合成标题") and g.fold == 1 for g in groups)
    assert all(len(g.passages) == 4 and unit_pair("合成句子0。", "合成标题") not in g.passages[1:] for g in groups)


def test_the_setting_turns_the_reader_off_and_names_a_folder_without_a_model(tmp_path: Path) -> None:
    assert reader_for("off") is None
    with pytest.raises(AssistantError, match=str(tmp_path)):
        reader_for(str(tmp_path))


def test_the_composer_quotes_the_unit_the_reader_picks_verbatim_and_cited() -> None:
    doc = Document(page_content=CONTEXT, metadata={"title": "合成示例工厂", "locator": "第1段", "ordinal": 0})
    picked: list[str] = []

    def read(units: list[Unit]) -> list[float]:
        # a reader that knows 产品 … 国家 answers where the question's words are (工厂) are everywhere
        picked.extend(u.text for u in units)
        return [5.0 if "国家" in u.text else 0.0 for u in units]

    composed = compose("合成问题：工厂的东西卖到哪里", [doc], read=read)
    first = re.findall(r"(.+?)\[(\d+)\]", composed.text)[0][0]
    assert first == "工厂的产品销往十个国家。"
    start, end = composed.highlights[0][0]
    assert CONTEXT[start:end] == first
    assert "工厂共有工人三百名，分为四个车间。" in picked  # every unit was read, not only those sharing words
