"""Answer: answerers that compose cited answers from passages, evidence checks, conversations.

Answerers are registered here by name; `settings.answerer` picks one. A new answerer is one
module and one line in `ANSWERERS`.
"""

from __future__ import annotations

from collections.abc import Callable

from assistant.answer.base import Answerer
from assistant.answer.extractive import ExtractiveAnswerer
from assistant.errors import AssistantError

ANSWERERS: dict[str, Callable[[], Answerer]] = {
    "extractive": ExtractiveAnswerer,
}


def get_answerer(name: str) -> Answerer:
    try:
        return ANSWERERS[name]()
    except KeyError:
        raise AssistantError(f"unknown answerer {name!r}; known: {', '.join(sorted(ANSWERERS))}") from None
