"""Who may review and who may maintain: bearer tokens, configured as sha256 digests.

The settings hold only digests (`liaison_tokens`, `maintainer_tokens`; "name:digest" names the
holder, whose name is recorded with each verdict), so a leaked settings file gives no working
token. Every digest is compared with `hmac.compare_digest`, all of them on every check, so timing
tells nothing. Roles are ordered: a maintainer may do all a liaison may, and re-index besides.
With no tokens configured nobody passes: protected routes are closed by default.

    python -m assistant.review.auth hash MY-TOKEN      # prints the digest to put in the settings
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
from dataclasses import dataclass
from enum import IntEnum

from assistant.errors import ForbiddenError, UnauthorizedError
from assistant.settings import Settings

_HEX = frozenset("0123456789abcdef")


class Role(IntEnum):
    LIAISON = 1
    MAINTAINER = 2


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _entries(values: list[str], role: Role) -> list[tuple[str, str, Role]]:
    """(digest, holder name, role) for each well-formed configured entry; others are ignored."""
    out = []
    for value in values:
        name, _, digest = value.strip().rpartition(":")
        digest = digest.lower()
        if len(digest) == 64 and set(digest) <= _HEX:
            out.append((digest, name or f"{role.name.lower()}-{digest[:8]}", role))
    return out


class TokenChecker:
    def __init__(self, settings: Settings) -> None:
        self._entries = _entries(settings.liaison_tokens, Role.LIAISON) + \
            _entries(settings.maintainer_tokens, Role.MAINTAINER)

    def identify(self, token: str | None) -> Principal | None:
        """The holder of this token, or None. Constant work whatever the token."""
        digest = hash_token(token or "")
        found: Principal | None = None
        for expected, name, role in self._entries:
            if hmac.compare_digest(digest, expected) and token and (found is None or role > found.role):
                found = Principal(name, role)
        return found

    def require(self, token: str | None, role: Role = Role.LIAISON) -> Principal:
        principal = self.identify(token)
        if principal is None:
            raise UnauthorizedError()
        if principal.role < role:
            raise ForbiddenError()
        return principal


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "hash":
        print(hash_token(argv[1]))
        return 0
    if argv == ["new"]:
        token = secrets.token_urlsafe(24)
        print(f"token:  {token}\ndigest: {hash_token(token)}")
        return 0
    print("usage: python -m assistant.review.auth hash TOKEN | new", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
