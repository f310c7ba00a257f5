"""Who may see the dashboard and call the admin API: the admin token or the read-only token.

Tokens live in 0600 files in the state directory (`api-token`, created on first start;
`readonly-token`, created by `rocks create frontend token readonly=yes`) or in
ROCKS_API_TOKEN / ROCKS_READONLY_TOKEN. A client presents one as `Authorization: Bearer …`,
or signs in once at /login and then carries a session cookie: `<role>.<expiry>.<mac>`, an
HMAC keyed by the current token of that role — stateless, valid in every worker, and void as
soon as the token is replaced. Pages need a login whenever the frontend listens on anything but
loopback (or trusts a proxy, or `login=yes`); the API always does.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from pathlib import Path

from rocks.server.config import (
    READONLY_TOKEN_ENV,
    TOKEN_ENV,
    ServerConfig,
    api_token,
    read_token,
)

ADMIN = "admin"
READONLY = "readonly"
COOKIE = "rocks_session"
SESSION_SECONDS = 12 * 3600
_RECHECK = 1.0  # seconds between looks at the token files


@dataclass
class _Cached:
    token: str | None
    stamp: tuple[int, int] | None
    checked: float


class Auth:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.required = config.login_required
        api_token(config)  # create the admin token on first start
        self._files = {ADMIN: (config.token_path, TOKEN_ENV),
                       READONLY: (config.readonly_token_path, READONLY_TOKEN_ENV)}
        self._cache: dict[str, _Cached] = {}

    def token(self, role: str, *, fresh: bool = False) -> str | None:
        """The current token of `role`, re-read when its file changes (rotation needs no
        restart; the file is looked at no more than once a second unless `fresh`)."""
        path, env = self._files[role]
        if os.environ.get(env, "").strip():
            return os.environ[env].strip()
        now = time.monotonic()
        cached = self._cache.get(role)
        if cached is not None and now - cached.checked < _RECHECK and not fresh:
            return cached.token
        stamp = _stamp(path)
        if cached is None or stamp != cached.stamp:
            cached = _Cached(read_token(path) if stamp else None, stamp, now)
        cached.checked = now
        self._cache[role] = cached
        return cached.token

    def role_of_token(self, given: str) -> str | None:
        """The role whose token `given` is; a miss looks at the files again (a token made a
        moment ago works at once)."""
        if not given or not given.isascii():
            return None
        for fresh in (False, True):
            for role in (ADMIN, READONLY):
                expected = self.token(role, fresh=fresh)
                if expected and hmac.compare_digest(given.encode(), expected.encode()):
                    return role
        return None

    def session(self, role: str, now: float | None = None) -> str:
        expires = int((now or time.time()) + SESSION_SECONDS)
        return f"{role}.{expires}.{self._mac(role, expires)}"

    def role_of_session(self, cookie: str, now: float | None = None) -> str | None:
        try:
            role, expires_text, mac = cookie.split(".", 2)
            expires = int(expires_text)
        except ValueError:
            return None
        if role not in self._files or expires < (now or time.time()):
            return None
        good = self._mac(role, expires)
        return role if good and hmac.compare_digest(good.encode(), mac.encode()) else None

    def _mac(self, role: str, expires: int) -> str:
        token = self.token(role)
        if not token:
            return ""
        key = hashlib.sha256(b"rocks-session:" + token.encode()).digest()
        return hmac.new(key, f"{role}.{expires}".encode(), hashlib.sha256).hexdigest()

    def csrf(self, cookie: str) -> str:
        """The form token of a session: an HMAC of its cookie keyed by the admin token, so a
        page of another site can neither read nor forge it (and the cookie is SameSite)."""
        token = self.token(ADMIN) or ""
        key = hashlib.sha256(b"rocks-csrf:" + token.encode()).digest()
        return hmac.new(key, cookie.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, cookie: str, given: str) -> bool:
        return bool(cookie and given) and hmac.compare_digest(self.csrf(cookie).encode(),
                                                               given.encode())

    def role(self, authorization: str, cookie: str) -> str | None:
        """The role the request's bearer token or session cookie carries, or None."""
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and given.strip():
            return self.role_of_token(given.strip())
        return self.role_of_session(cookie) if cookie else None


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino)

