"""Exceptions whose message is what a user sees (CLI prints it, the API returns it)."""


class AssistantError(Exception):
    """Base class: `str(err)` is a complete, user-facing sentence."""

    exit_code = 1


class LoadError(AssistantError):
    """A corpus file could not be decoded or parsed; the file is skipped, the rest index."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class IndexNotBuiltError(AssistantError):
    """No published index version exists yet."""

    exit_code = 3


class ModelMismatchError(AssistantError):
    """The index was embedded with a different model than the one configured."""

    exit_code = 4


class IndexBusyError(AssistantError):
    """Another re-index holds the lock."""

    exit_code = 5


class IndexWriteError(AssistantError):
    """The new version could not be written (disk full, read-only folder); the live one is untouched."""

    exit_code = 6


class BadQuestionError(AssistantError):
    """The question is empty, too long or otherwise unusable."""


class UnknownConversationError(AssistantError):
    """A conversation id that this server does not know."""
