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
    """In-memory conversations, bounded in age, number and length.

    Follow-ups only need the recent turns, so each conversation keeps its last `max_turns`. A
    conversation idle for `ttl_seconds` is dropped. Over `limit`, one-shot conversations (never
    continued) go first, oldest first, and only then continued ones: a flood of new conversations
    evicts itself, not the users who are in the middle of one.
    """

    def __init__(self, limit: int = 10000, ttl_seconds: float = 7200.0, max_turns: int = 6) -> None:
        self._oneshot: OrderedDict[str, Conversation] = OrderedDict()  # by last use, oldest first
        self._continued: OrderedDict[str, Conversation] = OrderedDict()
        self._limit = max(1, limit)
        self._ttl = ttl_seconds
        self._max_turns = max(1, max_turns)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._oneshot) + len(self._continued)

    def __contains__(self, conversation: object) -> bool:
        """Whether this conversation object is one the store holds (not an ad-hoc one)."""
        with self._lock:
            if not isinstance(conversation, Conversation):
                return False
            held = self._continued.get(conversation.id) or self._oneshot.get(conversation.id)
            return held is conversation

    def get(self, conversation_id: str | None, create: bool = True) -> Conversation:
        """A new conversation (no id) or a known one, touched and trimmed for the turn to come."""
        now = time.time()
        with self._lock:
            self._expire(now)
            if conversation_id is None:
                while len(self) >= self._limit:  # room first, so the new one is never the one dropped
                    (self._oneshot or self._continued).popitem(last=False)
                conversation = Conversation(uuid.uuid4().hex)
                self._oneshot[conversation.id] = conversation
            elif conversation_id in self._continued:
                conversation = self._continued[conversation_id]
                self._continued.move_to_end(conversation_id)
            elif conversation_id in self._oneshot:
                conversation = self._continued[conversation_id] = self._oneshot.pop(conversation_id)
            else:
                raise UnknownConversationError(
                    f"unknown conversation_id '{conversation_id[:64]}': start a new conversation without one"
                )
            # Room for the turn this call is for: at most max_turns once it is appended.
            del conversation.turns[: max(0, len(conversation.turns) - self._max_turns + 1)]
            conversation.touched = now
            return conversation

    def _expire(self, now: float) -> None:
        for items in (self._oneshot, self._continued):
            while items and next(iter(items.values())).touched < now - self._ttl:
                items.popitem(last=False)
