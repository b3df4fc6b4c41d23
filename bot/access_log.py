"""``serve``'s access log: aiohttp's, less two kinds of line, and written for less.

- 快递100's accepted pushes: a line per push cost ~10% of taking it and says nothing the
  parcel's scans do not (refused or failed pushes, any answer but 200, are still logged);
- the console's login callback is logged without its query: the WeCom code and state in it
  are nobody's business once used (and the code is single-use anyway).

In aiohttp's default format (serve's) a line is written here directly: the same line and the
same fields on the record, in a third of aiohttp's formatting time, which every chat callback
pays. Any other format is aiohttp's own.
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from aiohttp.web_log import AccessLogger
from yarl import URL

from bot.console.login import CALLBACK_PATH
from bot.tracking import PUSH_PATH


class AccessLog(AccessLogger):
    _stamp: tuple[object, str] = (None, "")  # (the second a line's request started, its text)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if response.status == 200 and request.path == PUSH_PATH:
            return
        if request.path == CALLBACK_PATH and request.query_string:
            request = request.clone(rel_url=URL(CALLBACK_PATH))
        if self.log_format != AccessLogger.LOG_FORMAT:
            super().log(request, response, time)
            return
        try:
            self._log_default(request, response, time)
        except Exception:
            self.logger.exception("Error in logging")

    def _log_default(
        self, request: web.BaseRequest, response: web.StreamResponse, time: float
    ) -> None:
        """``%a %t "%r" %s %b "%{Referer}i" "%{User-Agent}i"`` as aiohttp writes it."""
        remote = request.remote or "-"
        started = self._started(time)
        version = request.version
        first_line = f"{request.method} {request.path_qs} HTTP/{version.major}.{version.minor}"
        status, size = response.status, response.body_length
        headers = request.headers
        referer, agent = headers.get("Referer", "-"), headers.get("User-Agent", "-")
        self.logger.info(
            f'{remote} {started} "{first_line}" {status} {size} "{referer}" "{agent}"',
            extra={
                "remote_address": remote,
                "request_start_time": started,
                "first_request_line": first_line,
                "response_status": status,
                "response_size": size,
                "request_header": {"Referer": referer, "User-Agent": agent},
            },
        )

    def _started(self, time: float) -> str:
        """When the request started, in aiohttp's local time: formatted once a second."""
        started = (self._get_local_time() - timedelta(seconds=time)).replace(microsecond=0)
        if self._stamp[0] != started:
            self._stamp = (started, started.strftime("[%d/%b/%Y:%H:%M:%S %z]"))
        return self._stamp[1]
