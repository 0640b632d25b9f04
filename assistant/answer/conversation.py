"""Multi-turn: remember what a conversation is about, so follow-ups keep their subject."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from assistant.answer.question import question_type
from assistant.errors import UnknownConversationError
from assistant.retrieve.query import clean_for_keywords
from assistant.store.keyword import STOPWORDS, tokenize

if TYPE_CHECKING:
    from assistant.settings import Settings

_FOLLOW_UP_START = re.compile(r"^(那|那么|那这个|还有|另外|此外|再问|它|其|该|这个|这些|上述|如果是|要是)")
# Words that name an aspect of a subject (what about it is asked), not the subject itself: a
# follow-up made of them keeps the conversation's subject and asks about another side of it.
_ASPECT = frozenset(
    ["申请", "条件", "要求", "流程", "程序", "材料", "资金", "支持", "补贴", "政策", "规定", "办法", "多少", "哪些",
     "时间", "期限", "标准", "具体", "怎么", "如何", "需要", "有没有", "什么", "第", "条", "呢", "吗", "方面",
     "领域", "重点", "措施", "安排", "下一步", "一步", "工作", "情况", "进展", "开展", "融资", "金融", "资金", "奖励",
     "税收", "优惠", "服务", "办理", "对象", "范围", "内容", "主要", "有关", "相关", "哪个", "哪里", "何时", "部门",
     "负责", "联系", "方式", "计划", "目标", "成效", "效果", "做法", "举措", "问题", "有", "在", "是", "了", "哪",
     "的", "和", "及", "与", "等", "对", "为", "做", "还", "又", "呀", "吧", "啊"]
)
_ASKS_DETAIL = ("number", "date", "who", "where")
_CONTENT = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")


def subject_words(question: str) -> str:
    """What a question is about, without what it asks about it: 中试平台建设有什么支持政策 → 中试平台建设."""
    import jieba

    out: list[str] = []
    for word in jieba.lcut(clean_for_keywords(question)):
        keep = bool(_CONTENT.search(word)) and word not in _ASPECT and word not in STOPWORDS
        if keep:
            out.append(word)
        elif out and out[-1] != " ":
            out.append(" ")
    return "".join(out).strip()


@dataclass
class Turn:
    question: str
    query: str
    sources: list[str]
    subject: str = ""  # what the conversation is about: the last self-contained question, cleaned


class Keeper(Protocol):
    def save(self, conversation: Conversation) -> None: ...


@dataclass
class Conversation:
    id: str
    turns: list[Turn] = field(default_factory=list)
    touched: float = field(default_factory=time.time)
    # The shared store it came from (assistant/state/conversations.py), which must be told of a new
    # turn; None in memory, where the store holds this very object.
    keeper: Keeper | None = field(default=None, repr=False, compare=False)

    def remember(self, question: str, query: str, sources: list[str]) -> None:
        """Record a turn once it is answered (or refused): what follow-ups resolve against."""
        self.turns.append(Turn(question, query, sources, subject_of(question, self)))
        if self.keeper is not None:
            self.keeper.save(self)

    @property
    def last_source(self) -> str | None:
        for turn in reversed(self.turns):
            if turn.sources:
                return turn.sources[0]
        return None


_LEAD = re.compile(r"^(那么|那|还有|另外|此外|再问一下|再问)\s*")


def without_lead(question: str) -> str:
    """The follow-up without its connective (那下一步呢 → 下一步呢), so it does not glue to the next word."""
    return _LEAD.sub("", question.strip()) or question


def is_follow_up(question: str) -> bool:
    """A question that leaves out its subject: starts like a follow-up or names no subject."""
    return bool(_FOLLOW_UP_START.search(question.strip())) or not subject_words(question)


def subject_of(question: str, conversation: Conversation | None) -> str:
    """The subject a new turn carries: its own, or the conversation's for a follow-up."""
    own = subject_words(question)
    if conversation is not None and conversation.turns and is_follow_up(question):
        return conversation.turns[-1].subject or own
    return own


def resolve(question: str, conversation: Conversation | None, limit: int = 1000) -> str:
    """The query actually used for retrieval.

    A follow-up that names another aspect (那融资方面呢, 那下一步呢, 申请条件呢) keeps the subject and
    drops the previous aspect: subject + question. One that asks for a detail (有多少家？什么时候？
    由哪个部门负责？) or names nothing narrows the previous query: previous query + question.
    At most `limit` characters (the longest question accepted): the previous query's head, where
    the subject is, and the whole new question. Unbounded, each detail follow-up carried every
    earlier one, and a conversation's memory grew with its length, past its bound of turns."""
    if conversation is None or not conversation.turns or not is_follow_up(question):
        return question
    last = conversation.turns[-1]
    own = tokenize(clean_for_keywords(question))
    new = without_lead(question)
    before = last.subject if own and question_type(question) not in _ASKS_DETAIL else last.query
    room = max(0, limit - len(new) - 1)
    return f"{before[:room]} {new}".strip()[:limit]


class Conversations(Protocol):
    """What the assistant needs of a conversation store (in memory here, or in Redis)."""

    def get(self, conversation_id: str | None, create: bool = True) -> Conversation: ...

    def __contains__(self, conversation: object) -> bool: ...

    def __len__(self) -> int: ...


def conversation_store(settings: Settings) -> Conversations:
    """In memory for one process; in Redis (`redis_url`) when several workers must share them."""
    if settings.redis_url:
        from assistant.state.conversations import RedisConversations

        return RedisConversations.from_settings(settings)
    return ConversationStore(settings.max_conversations, settings.conversation_ttl_seconds,
                             settings.conversation_turns)


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
