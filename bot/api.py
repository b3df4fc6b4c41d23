"""The ingest HTTP API under /api/v1/: orders per channel and stage events, bearer-token auth.

Described for integrators in docs/channels.md and docs/openapi.yaml.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy import exc

from bot.keys import CLOCK, CONFIG, INGESTOR, METRICS
from channels.envelopes import EnvelopeError, unwrap
from channels.registry import NAMES
from services import jsonbody
from services.config import SourceConfig
from services.ingest import IngestReport

log = logging.getLogger(__name__)

SOURCE = web.RequestKey("source", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int) -> web.Response:
    # Chinese reasons readable as they are, not as \u escapes.
    return web.json_response(data, status=status, dumps=lambda o: orjson.dumps(o).decode())


def _error(status: int, message: str, **more: Any) -> web.Response:
    return _json({"error": message, **more}, status)


def _source_for(token: str, sources: dict[str, SourceConfig]) -> str | None:
    for name, source in sources.items():
        if source.kind == "api" and hmac.compare_digest(token.encode(), source.secret.encode()):
            return name
    return None


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /api/ request names its source by token; no valid token, no effect."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    source = _source_for(token.strip(), request.app[CONFIG].sources) if scheme == "Bearer" else None
    if source is None:
        return _error(401, "缺少或无效的 Bearer token")
    request[SOURCE] = source
    return await handler(request)


Envelope = Callable[[dict[str, Any]], list[Any] | None]


async def _records(
    request: web.Request, key: str, envelope: Envelope | None = None
) -> list[Any] | web.Response:
    """A JSON list, ``{key: [...]}`` with no other field, one record, or (with ``envelope``)
    a whole platform answer the records are taken out of.

    A wrapper must have that one key only: a Taobao trade is a single record that happens to
    have an ``orders`` field (its sub-orders)."""
    try:
        body = jsonbody.loads(await request.read())
    except jsonbody.JsonError as error:
        return _error(400, f"请求体不是合法的 JSON: {error}")
    if envelope is not None and isinstance(body, dict):
        try:
            found = envelope(body)
        except EnvelopeError as error:
            return _error(400, str(error))
        if found is not None:
            body = found
    if isinstance(body, dict) and body.keys() == {key}:
        body = body[key]
        if not isinstance(body, list):
            return _error(400, f"{key} 必须是数组")
    records = body if isinstance(body, list) else [body]
    limit = request.app[CONFIG].server.max_batch
    if len(records) > limit:
        return _error(413, f"一批最多 {limit} 条, 收到 {len(records)} 条; 请拆分后重发")
    return records


def _answer(report: IngestReport) -> web.Response:
    accepted = report.created + report.updated + report.unchanged
    status = 200 if not report.rejected else (207 if accepted else 422)
    return _json(report.as_dict(), status)


# What a database that is away or restarting raises, through SQLAlchemy or straight from the
# driver's connect: the batch was not written and the sender should send it again later.
DATABASE_AWAY = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.DisconnectionError,
    exc.TimeoutError,  # no pooled connection came free
    OSError,  # connection refused or reset
    TimeoutError,
)
RETRY_AFTER_SECONDS = 30


async def _ingested(work: Awaitable[IngestReport]) -> IngestReport | web.Response:
    """The ingest's report, or a 503 the sender can act on when the database is away."""
    try:
        return await work
    except DATABASE_AWAY as error:
        log.warning("ingest refused, database unavailable: %s", str(error).splitlines()[0])
        response = _error(503, "数据库暂时不可用, 本批未写入; 请稍后重发")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


async def post_orders(request: web.Request) -> web.Response:
    channel = request.match_info["channel"]
    if channel not in NAMES:
        return _error(
            404,
            f"未知渠道 {channel!r}, 可选: {', '.join(NAMES)}",
            channels=list(NAMES),
        )
    source = request.app[CONFIG].sources[request[SOURCE]]
    if channel not in source.channels:
        return _error(403, f"来源 {request[SOURCE]} 无权写入渠道 {channel}")
    records = await _records(request, "orders", partial(unwrap, channel))
    if isinstance(records, web.Response):
        return records
    now = request.app[CLOCK].now()
    report = await _ingested(
        request.app[INGESTOR].orders(channel, records, now, source=request[SOURCE])
    )
    if isinstance(report, web.Response):
        return report
    request.app[METRICS].orders_ingested(channel, len(records), report)
    return _answer(report)


async def post_events(request: web.Request) -> web.Response:
    if not request.app[CONFIG].sources[request[SOURCE]].events:
        return _error(403, f"来源 {request[SOURCE]} 无权上报阶段事件")
    records = await _records(request, "events")
    if isinstance(records, web.Response):
        return records
    now = request.app[CLOCK].now()
    report = await _ingested(request.app[INGESTOR].events(request[SOURCE], records, now))
    if isinstance(report, web.Response):
        return report
    request.app[METRICS].events_ingested(records, report)
    return _answer(report)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/orders/{channel}", post_orders)
    app.router.add_post("/api/v1/events", post_events)
