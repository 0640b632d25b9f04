"""Multi-turn: remember what a conversation is about, so follow-ups keep their subject."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from assistant.errors import UnknownConversationError
from assistant.retrieve.query import clean_for_keywords
from assistant.store.keyword import tokenize

_FOLLOW_UP_START = re.compile(r"^(那|那么|那这个|还有|另外|此外|再问|它|其|该|这个|这些|上述|如果是|要是)")
_GENERIC = frozenset(
    ["申请", "条件", "要求", "流程", "程序", "材料", "资金", "支持", "补贴", "政策", "规定", "办法", "多少", "哪些", "时间", "期限", "标准", "具体", "怎么", "如何", "需要", "有没有", "什么", "第", "条", "呢", "吗"]
)


@dataclass
class Turn:
    question: str
    query: str
    sources: list[str]
    subject: str = ""  # what the conversation is about: the last self-contained question, cleaned


@dataclass
class Conversation:
    id: str
    turns: list[Turn] = field(default_factory=list)
    touched: float = field(default_factory=time.time)

    def remember(self, question: str, query: str, sources: list[str]) -> None:
        """Record a turn once it is answered (or refused): what follow-ups resolve against."""
        self.turns.append(Turn(question, query, sources, subject_of(question, self)))

    @property
    def last_source(self) -> str | None:
        for turn in reversed(self.turns):
            if turn.sources:
                return turn.sources[0]
        return None


def is_follow_up(question: str) -> bool:
    """A question that leaves out its subject: starts like a follow-up or has no specific words."""
    if _FOLLOW_UP_START.search(question.strip()):
        return True
    specific = [t for t in tokenize(clean_for_keywords(question)) if t not in _GENERIC and len(t) > 1]
    return not specific


def subject_of(question: str, conversation: Conversation | None) -> str:
    """The subject a new turn carries: its own words, or the conversation's for a follow-up."""
    if conversation is not None and conversation.turns and is_follow_up(question):
        return conversation.turns[-1].subject
    return clean_for_keywords(question)


def resolve(question: str, conversation: Conversation | None) -> str:
    """The query actually used for retrieval: the question, or the conversation's subject + it."""
    if conversation is None or not conversation.turns or not is_follow_up(question):
        return question
    return f"{conversation.turns[-1].subject} {question}".strip()


class ConversationStore:
    """In-memory conversations, bounded in number (oldest dropped)."""

    def __init__(self, limit: int = 10000) -> None:
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def __contains__(self, conversation: object) -> bool:
        """Whether this conversation object is one the store holds (not an ad-hoc one)."""
        with self._lock:
            return isinstance(conversation, Conversation) and self._items.get(conversation.id) is conversation

    def get(self, conversation_id: str | None, create: bool = True) -> Conversation:
        with self._lock:
            if conversation_id is None:
                conversation = Conversation(uuid.uuid4().hex)
                self._items[conversation.id] = conversation
            elif conversation_id in self._items:
                conversation = self._items[conversation_id]
                self._items.move_to_end(conversation_id)
            else:
                raise UnknownConversationError(
                    f"unknown conversation_id '{conversation_id[:64]}': start a new conversation without one"
                )
            while len(self._items) > self._limit:
                self._items.popitem(last=False)
            conversation.touched = time.time()
            return conversation
