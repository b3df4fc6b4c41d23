"""What keeps the console an internal admin tool: signed session cookies with an expiry, the
login's state cookie, CSRF tokens bound to the session, and the headers on every answer.

A session is a cookie signed with ``[console] secret`` (user, expiry, a random id): nothing is
stored server-side, so every instance on one database accepts it, and the role is looked up in
the rules in force at every request (taking someone out of the config ends their access at
their next click). Logging out deletes the cookie.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web

from services.config import ConsoleConfig

# Scripts and styles only from our own files (htmx is vendored under /console/static/).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SESSION_COOKIE = "ob_console"
LOGIN_COOKIE = "ob_console_login"  # the state of a login under way
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"  # htmx sends it with every request (hx-headers in base.html)


def secure_headers(response: web.StreamResponse, static: bool, secure: bool) -> None:
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["Cache-Control"] = "public, max-age=3600" if static else "no-store"
    if secure:
        headers["Strict-Transport-Security"] = "max-age=31536000"


def _sign(config: ConsoleConfig, purpose: str, payload: str) -> str:
    mac = hmac.new(config.key.encode(), f"{purpose}:{payload}".encode(), hashlib.sha256)
    return mac.hexdigest()


@dataclass(frozen=True)
class Session:
    user: str
    expires_at: datetime
    sid: str  # random: ties the CSRF token to this sign-in


def session_cookie(config: ConsoleConfig, user: str, now: datetime) -> tuple[str, Session]:
    session = Session(user, now + config.session_ttl, secrets.token_urlsafe(16))
    name = base64.urlsafe_b64encode(user.encode()).decode()
    payload = f"{name}.{int(session.expires_at.timestamp())}.{session.sid}"
    return f"{payload}.{_sign(config, 'session', payload)}", session


def read_session(config: ConsoleConfig, value: str, now: datetime) -> Session | None:
    """The session a cookie holds, or None when it is not ours, altered or expired."""
    payload, _, signature = value[:512].rpartition(".")
    if not hmac.compare_digest(_sign(config, "session", payload), signature):
        return None
    name, expires, sid = payload.split(".")
    try:
        user = base64.urlsafe_b64decode(name.encode()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    expires_at = datetime.fromtimestamp(int(expires), now.tzinfo)
    return Session(user, expires_at, sid) if now < expires_at else None


def csrf_token(config: ConsoleConfig, session: Session) -> str:
    return _sign(config, "csrf", session.sid)


def csrf_holds(config: ConsoleConfig, session: Session, token: str) -> bool:
    return bool(token) and hmac.compare_digest(csrf_token(config, session), token)


def login_cookie(config: ConsoleConfig, now: datetime, back_to: str) -> tuple[str, str]:
    """A fresh state for WeCom's login link (``[a-zA-Z0-9]``, as WeCom requires) and the
    cookie that lets the callback check it came back to the browser that started it, and
    where that browser was going (a path of the console)."""
    state = secrets.token_hex(16)
    path = base64.urlsafe_b64encode(back_to.encode()).decode()
    payload = f"{state}.{int((now + config.login_ttl).timestamp())}.{path}"
    return state, f"{payload}.{_sign(config, 'login', payload)}"


def login_destination(config: ConsoleConfig, cookie: str, state: str, now: datetime) -> str | None:
    """Where the browser was going, when ``state`` is the one of its login cookie and the
    login has not lapsed; None otherwise."""
    payload, _, signature = cookie[:2048].rpartition(".")
    if not state or not hmac.compare_digest(_sign(config, "login", payload), signature):
        return None
    expected, expires, path = payload.split(".")
    if now.timestamp() >= int(expires):
        return None
    if not hmac.compare_digest(expected.encode(), state[:128].encode()):
        return None
    return base64.urlsafe_b64decode(path.encode()).decode()


def set_cookie(
    response: web.StreamResponse,
    config: ConsoleConfig,
    name: str,
    value: str,
    max_age: timedelta | None,
) -> None:
    # Lax, not Strict: WeCom's login sends the browser back from another site, and a Strict
    # cookie would be missing on that navigation; the CSRF tokens guard every POST.
    response.set_cookie(
        cookie_name(config, name),
        value,
        max_age=None if max_age is None else int(max_age.total_seconds()),
        path="/",
        httponly=True,
        secure=config.cookies_secure,
        samesite="Lax",
    )


def delete_cookie(response: web.StreamResponse, config: ConsoleConfig, name: str) -> None:
    set_cookie(response, config, name, "", timedelta(0))


def cookie_name(config: ConsoleConfig, name: str) -> str:
    """``__Host-`` names over HTTPS: such a cookie is Secure, host-only and for the path /."""
    return f"__Host-{name}" if config.cookies_secure else name
