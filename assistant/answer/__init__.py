"""Answer: answerers that compose cited answers from passages, evidence checks, conversations.

Answerers are registered here by name; `settings.answerer` picks one. A new answerer is one
module and one line in `ANSWERERS` (a factory taking the settings).
"""

from __future__ import annotations

from collections.abc import Callable

from assistant.answer.base import Answerer
from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.reader import reader_for
from assistant.errors import AssistantError
from assistant.settings import Settings


def _llm(settings: Settings) -> Answerer:
    from assistant.answer.llm import LlmAnswerer  # imports the OpenAI client only when chosen

    return LlmAnswerer(settings)


ANSWERERS: dict[str, Callable[[Settings], Answerer]] = {
    "extractive": lambda settings: ExtractiveAnswerer(reader_for(settings.reader)),
    "llm": _llm,
}


def get_answerer(name: str, settings: Settings | None = None) -> Answerer:
    try:
        factory = ANSWERERS[name]
    except KeyError:
        raise AssistantError(f"unknown answerer {name!r}; known: {', '.join(sorted(ANSWERERS))}") from None
    return factory(settings or Settings())
