"""What an API client is told about an error: the user-facing message, without server paths.

Library messages name folders and files, which helps at the command line; over HTTP they would
tell a stranger how the server is laid out. The configured folders become their role ("the index
folder"), and any other absolute path becomes "[path]".
"""

from __future__ import annotations

import re

from assistant.settings import Settings

_ABSOLUTE = re.compile(r"(?<![\w.:/])(?:/|[A-Za-z]:\\)[^\s'\"，。；：（）()\[\]]*")


def public_detail(message: str, settings: Settings) -> str:
    folders = [(settings.index_dir, "the index folder"), (settings.corpus_dir, "the corpus folder"),
               (settings.data_dir, "the data folder"), (settings.review_db_path, "the review log")]
    names: list[tuple[str, str]] = []
    for path, role in folders:
        names += [(str(path.resolve()), role), (str(path), role)]
    for name, role in sorted(names, key=lambda item: -len(item[0])):  # longest first: no half-replaced path
        if name not in ("", "."):
            message = message.replace(name, role)
    return _ABSOLUTE.sub("[path]", message)
