"""What every answer of the customer page carries: security headers, no caching of personal
pages, friendly Chinese pages instead of errors; and the forms' CSRF tokens and the cookies."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from services.config import CustomerPageConfig

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# No script at all (the page works without JavaScript), styles only from our own file.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
STATIC_PREFIX = "/static/"


def secure_headers(response: web.StreamResponse, request: web.Request, secure: bool) -> None:
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"  # a link's path is its token
    if request.path.startswith(STATIC_PREFIX):
        headers["Cache-Control"] = "public, max-age=3600"
    else:
        headers["Cache-Control"] = "no-store"
    if secure:
        headers["Strict-Transport-Security"] = "max-age=31536000"


def cookie_name(config: CustomerPageConfig, name: str) -> str:
    """``__Host-`` names over HTTPS: such a cookie is Secure, host-only and for the path /."""
    return f"__Host-{name}" if config.cookies_secure else name


def set_cookie(
    response: web.StreamResponse,
    config: CustomerPageConfig,
    name: str,
    value: str,
    max_age: int | None = None,
) -> None:
    response.set_cookie(
        cookie_name(config, name),
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        secure=config.cookies_secure,
        samesite="Strict",
    )


def delete_cookie(response: web.StreamResponse, config: CustomerPageConfig, name: str) -> None:
    set_cookie(response, config, name, "", max_age=0)


CSRF_COOKIE = "ob_csrf"


def csrf_seed(request: web.Request, config: CustomerPageConfig) -> tuple[str, bool]:
    """The visitor's CSRF seed from its cookie, or a new one (True: set the cookie)."""
    seed = request.cookies.get(cookie_name(config, CSRF_COOKIE), "")
    if 16 <= len(seed) <= 64:
        return seed, False
    return secrets.token_urlsafe(24), True


def csrf_token(config: CustomerPageConfig, seed: str) -> str:
    """The forms' hidden token: the seed signed with the page's secret (a cookie another site
    could plant without knowing the secret is worth nothing)."""
    return hmac.new(config.key.encode(), f"csrf:{seed}".encode(), hashlib.sha256).hexdigest()


def csrf_holds(request: web.Request, config: CustomerPageConfig, token: str) -> bool:
    seed = request.cookies.get(cookie_name(config, CSRF_COOKIE), "")
    if not seed or not token:
        return False
    return hmac.compare_digest(csrf_token(config, seed), token)


def client_ip(request: web.Request, config: CustomerPageConfig) -> str:
    if config.trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1][:64]
    return (request.remote or "unknown")[:64]


class AccessLog(AbstractAccessLogger):
    """One line a request, a link's token left out of its path (it opens an order)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = "/o/…" if request.path.startswith("/o/") else request.path
        self.logger.info(
            '%s "%s %s" %s %.1fms',
            request.remote,
            request.method,
            path,
            response.status,
            time * 1000,
        )
