"""Exceptions whose message is what a user sees, and how each is answered.

Each class carries its HTTP status (the API answers with it), its CLI exit code, and a Chinese
message for the pages (`err.zh`): the API, the CLI and the UI all read them from here, so no edge
keeps a table of its own. `str(err)` is the complete detail, safe to show: no server paths.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class: `str(err)` is a complete, user-facing sentence."""

    status = 400
    exit_code = 1
    zh_default = "请求无法处理，请检查后重试。"

    def __init__(self, message: str = "", zh: str | None = None) -> None:
        super().__init__(message or self.zh_default)
        self._zh = zh

    @property
    def zh(self) -> str:
        """What a person reads on the pages."""
        return self._zh or self.zh_default


class LoadError(AssistantError):
    """A corpus file could not be decoded or parsed; the file is skipped, the rest index."""

    zh_default = "文件无法读取或解析。"

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}", zh=f"文件 {path} 无法读取或解析：{reason}")
        self.path = path
        self.reason = reason


class IndexNotBuiltError(AssistantError):
    """No published index version exists yet."""

    status = 503
    exit_code = 3
    zh_default = "政策索引尚未建立，暂时无法回答，请稍后再试。"


class IndexDamagedError(AssistantError):
    """A published version failed its integrity check; it is not served."""

    status = 503
    exit_code = 7
    zh_default = "政策索引文件已损坏，服务暂不可用，请联系管理员重建索引。"


class ModelMismatchError(AssistantError):
    """The index was embedded with a different model than the one configured."""

    status = 503
    exit_code = 4
    zh_default = "索引与当前配置的向量模型不一致，请联系管理员重建索引。"


class IndexBusyError(AssistantError):
    """Another re-index holds the lock."""

    status = 409
    exit_code = 5
    zh_default = "正在重建索引，请稍后再试。"


class IndexWriteError(AssistantError):
    """The new version could not be written (disk full, read-only folder); the live one is untouched."""

    status = 503
    exit_code = 6
    zh_default = "新索引无法写入（磁盘已满或目录只读），当前索引保持不变。"


class BadQuestionError(AssistantError):
    """The question is empty, too long or otherwise unusable."""

    zh_default = "问题无法处理，请换一种说法。"


class UnknownConversationError(AssistantError):
    """A conversation id that this server does not know."""

    status = 404
    zh_default = "对话已过期，请开始新的对话。"


class StateUnavailableError(AssistantError):
    """PostgreSQL or Redis, the state several workers share, cannot be reached just now: the
    request is refused (503, retry) rather than answered without its conversation or its log."""

    status = 503
    exit_code = 8
    zh_default = "服务暂时不可用，请稍后再试。"


class NotFoundError(AssistantError):
    """No such logged answer, hand-off, document or item."""

    status = 404
    zh_default = "未找到对应的记录。"


class InputError(AssistantError):
    """A verdict, correction, hand-off or upload that cannot be recorded as given."""

    zh_default = "提交的内容无法处理，请检查后重试。"


class UnauthorizedError(AssistantError):
    """Missing or wrong token. The message is deliberately the same whatever went wrong."""

    status = 401
    zh_default = "令牌无效：请输入管理员发放的审核令牌。"

    def __init__(self) -> None:
        super().__init__("unauthorized")


class ForbiddenError(AssistantError):
    """A valid token whose role may not do this."""

    status = 403
    zh_default = "此令牌无权执行该操作。"

    def __init__(self) -> None:
        super().__init__("forbidden")
