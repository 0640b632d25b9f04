"""What a person reads when something goes wrong, in Chinese, by exception class.

The domain's exception texts are written for operators and API clients; the pages never show them.
"""

from __future__ import annotations

import re

from assistant.errors import AssistantError, BadQuestionError
from assistant.review.service import ReviewInputError, ReviewNotFoundError

# Review input problems, by the domain's wording (the liaison needs to know which one it is).
_REVIEW_INPUT: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^type some words"), "请输入要检索的词语。"),
    (re.compile(r"^\[(\d+)\] is given two different passages"), "[{0}] 对应了两个不同的段落，请只保留一个。"),
    (re.compile(r"^the answer has no sentences"), "更正答复是空的。"),
    (re.compile(r"^every sentence must cite a passage with \[n\]; this one does not: (.*)$", re.S),
     "更正答复的每一句都要用 [n] 标注所引段落，这一句没有：{0}"),
    (re.compile(r"^\[(\d+)\] is used in the answer but no passage is picked for it"),
     "答复中用了 [{0}]，但没有为它选择段落：请先检索并“加入引用”。"),
    (re.compile(r"^the passage picked for \[(\d+)\] is not in the live index"),
     "为 [{0}] 选择的段落已不在当前索引中（可能刚重新建立索引），请重新检索并选择。"),
    (re.compile(r"^a corrected answer goes with"), "只有结论为“错误”或“需修改”时才填写更正答复。"),
    (re.compile(r"^the reply is empty"), "回复内容是空的。"),
    (re.compile(r"^please give a contact line"), "请填写联系方式（电话或邮箱）。"),
]


def review_input(err: AssistantError) -> str | None:
    text = str(err)
    for pattern, chinese in _REVIEW_INPUT:
        match = pattern.search(text)
        if match:
            return chinese.format(*(g[:200] for g in match.groups()))
    return None


def question_error(err: AssistantError, question: str, limit: int) -> str:
    if isinstance(err, BadQuestionError) and len(question) > limit:
        return f"问题太长（{len(question)} 字），请精简到 {limit} 字以内后再提问。"
    return message_for(err)


def message_for(err: AssistantError, action: str = "") -> str:
    """The Chinese sentence for `err` (its own `zh`, or which review input is wrong); `action`
    (记录评价, 转交 …) names what failed where it helps."""
    if isinstance(err, ReviewNotFoundError):
        return f"未能{action or '完成'}：找不到这条答复，它可能属于已过期的对话，请重新提问后再试。"
    if isinstance(err, ReviewInputError):
        return f"未能{action or '完成'}：{review_input(err) or err.zh}"
    return err.zh
