"""The LLM's prompt: numbered passages with what a citation shows, the question, the rules.

Bounded whatever the index or the conversation holds: at most `llm_passages` passages and
`llm_prompt_chars` characters of their text (each passage gets an equal share, the rest of a short
one goes to the next), and the resolved query of a follow-up rather than the conversation.
"""

from __future__ import annotations

from langchain_core.documents import Document

from assistant.answer.base import AnswerRequest

NOT_FOUND = "未找到相关内容"  # the fixed phrase the model gives when the passages do not answer

SYSTEM = (
    "你是政府政策咨询助手。只根据用户给出的编号资料回答问题，用简体中文直接作答。\n"
    "要求：\n"
    "1. 每句话末尾用资料编号标明依据，例如：……。[1]\n"
    "2. 数字、日期、比例、金额和机构名称照抄资料原文，不改写，不推测。\n"
    "3. 只写资料中有的内容，不写开场白、总结或建议。\n"
    f"4. 如果资料不能回答这个问题，只回答：{NOT_FOUND}。"
)


def header(n: int, passage: Document) -> str:
    """[n] 《title》（文号；发布日期；位置）: what the model may cite the passage by."""
    meta = passage.metadata
    facts = [f"{label}：{meta[key]}" for key, label in (("doc_number", "文号"), ("issuer", "发布机关"),
                                                        ("date", "日期"), ("locator", "位置")) if meta.get(key)]
    title = f"《{meta['title']}》" if meta.get("title") else ""
    return f"[{n}] {title}" + (f"（{'；'.join(facts)}）" if facts else "")


def passages_for(request: AnswerRequest, max_passages: int) -> list[Document]:
    """The passages the prompt numbers [1]…[k], in rank order."""
    return request.passages[:max_passages]


def user_message(request: AnswerRequest, passages: list[Document], max_chars: int) -> str:
    """Numbered passages, then the question (and its resolved form for a follow-up)."""
    blocks = []
    budget = max_chars
    for i, passage in enumerate(passages):
        share = budget // (len(passages) - i)
        text = passage.page_content.strip()
        if len(text) > share:
            text = text[:share].rstrip() + "……"
        budget -= min(len(passage.page_content.strip()), share)
        blocks.append(f"{header(i + 1, passage)}\n{text}")
    question = request.question
    if request.query != request.question:
        question += f"\n（结合上文，这个问题问的是：{request.query}）"
    return ("资料：\n" + "\n\n".join(blocks) + f"\n\n问题：{question}\n\n"
            "请用完整的句子回答，每句末尾写上所依据资料的编号，例如：……。[1]")


def messages(request: AnswerRequest, passages: list[Document], max_chars: int) -> list[tuple[str, str]]:
    return [("system", SYSTEM), ("user", user_message(request, passages, max_chars))]
