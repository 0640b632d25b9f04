"""What a question asks for (a figure, a date, a body, a list, …).

The composer and the follow-ups use this: a "how many" question is answered by a figure with its
unit, and a passage without any figure cannot answer it. The answerability signals use
stated_measures: a measure a passage states only by its unit (180万平米 for 面积) is found there.
"""

from __future__ import annotations

import re
from typing import Literal

from assistant.numerals import AMOUNT

QuestionType = Literal["number", "date", "who", "where", "list", "other"]

_TYPES: list[tuple[QuestionType, re.Pattern[str]]] = [
    ("date", re.compile(r"(什么时[候间]|何时|哪[一]?[天年月日]|几[月号日]|截[止至]|期限|多久|时限|日期|时间节点|哪段时间)")),
    ("number", re.compile(r"(多少|几[个家项条名所年天次批元万亿%]|数量|金额|比例|额度|上限|标准是|多[大长高少])")),
    ("who", re.compile(r"(哪[个些家]?(部门|单位|机构|机关|企业|银行|主体|人员|人)|谁|由谁|什么(部门|单位|机构|人))")),
    ("where", re.compile(r"(哪里|在哪|何处|什么地方|什么途径|哪个(网站|平台|渠道)|怎么联系|电话|地址|网址|路径)")),
    ("list", re.compile(r"(哪些|什么(措施|政策|条件|要求|材料|内容|方面|支持|举措|优惠|服务)|有何|如何|怎样|怎么)")),
]
# A figure with a unit, a percentage or a count; a date.
FIGURE = re.compile(r"(\d+(?:\.\d+)?\s*(?:%|％|万|亿|元|家|个|名|人|项|条|年|月|天|日|倍|平方|平米|户|次|所|批)?"
                    rf"|{AMOUNT}[个家项名条年月日天倍批户次所%％])")
DATE = re.compile(r"(\d{4}\s*年(\s*\d{1,2}\s*月)?(\s*\d{1,2}\s*日)?|\d{1,2}\s*月\s*\d{1,2}\s*日|\d{1,2}\s*月(底|末|初|中旬)"
                  r"|年底|年末|之日起|日起|前|以前|期间)")
BODY = re.compile(r"[\u4e00-\u9fff]{2,20}(部|厅|局|委员会|委|办公室|办|中心|银行|政府|机构|协会|单位|公司|集团)")
_ANY_TYPE_CONTENT = {"number": FIGURE, "date": DATE, "who": BODY}

# A measure a question names that a passage states only by a figure in its unit: 孵化机构场地达到180万平米
# answers 场地面积有多大 without the word 面积.
_FIGURE_IN = rf"(?:\d[\d.,，]*|{AMOUNT})\s*(?:多|余)?\s*(?:万|亿|千|百)?\s*"
_MEASURES: dict[str, re.Pattern[str]] = {
    "面积": re.compile(_FIGURE_IN + "(?:平方米|平米|平方公里|亩|公顷)"),
    "金额": re.compile(_FIGURE_IN + "元"),
    "人数": re.compile(_FIGURE_IN + "(?:人|名)"),
    "比例": re.compile(_FIGURE_IN + "(?:%|％)"),
    "占比": re.compile(_FIGURE_IN + "(?:%|％)"),
    # 会同哪些部门: the bodies named (经会同市金融局、市发展改革委…研究) state which 部门.
    "部门": re.compile(r"(?:市|省|区|县|国家)[\u4e00-\u9fff]{1,10}(?:局|委|厅|办)(?=[、，,和及与研等])"),
}


def stated_measures(words: list[str], text: str) -> list[str]:
    """The words among `words` naming a measure (面积, 金额, 人数, 比例; also 场地面积 when 场地 is in the
    text) that `text` states by a figure in its unit, or 部门 that it states by naming bodies."""
    out = []
    for word in words:
        for measure, pattern in _MEASURES.items():
            rest = word.removesuffix(measure)
            if rest != word and (not rest or rest in text) and pattern.search(text):
                out.append(word)
                break
    return out


def question_type(question: str) -> QuestionType:
    """The first matching kind, most specific first (a date before a count, a count before a list)."""
    for kind, pattern in _TYPES:
        if pattern.search(question):
            return kind
    return "other"


# 多少吨 / 几家 / 多少钱: the measure word a "how many" question names (钱 is counted in 元).
_ASKED_UNIT = re.compile(r"(?:多少|几)(?:个)?([吨家元人名项所条次天户台辆件套份倍亿万]|钱|平方米|平米|公里|千米|米|小时|分钟|亩|箱|批)")
_UNIT_ALIAS = {"钱": "元"}


def asked_unit(question: str) -> str | None:
    """The measure word of a "how many" question (多少吨 → 吨), if it names one."""
    found = _ASKED_UNIT.search(question)
    return _UNIT_ALIAS.get(found.group(1), found.group(1)) if found else None


def holds_type(kind: QuestionType, text: str, unit: str | None = None) -> bool:
    """Whether a text holds what this kind of question asks for (always true for general kinds).
    A count is not a date (2月5日 holds no "how many"); a named measure word must follow the figure."""
    if kind == "number":
        plain = DATE.sub(" ", text)
        if unit:
            return re.search(rf"(?:\d[\d.,，]*|{AMOUNT})\s*(?:多|余|万|亿|千|百)*\s*{unit}", plain) is not None
        return FIGURE.search(plain) is not None
    pattern = _ANY_TYPE_CONTENT.get(kind)
    return True if pattern is None else pattern.search(text) is not None
