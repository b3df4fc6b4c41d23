"""``serve``'s access log: aiohttp's, less two kinds of line.

- 快递100's accepted pushes: a line per push cost ~10% of taking it and says nothing the
  parcel's scans do not (refused or failed pushes, any answer but 200, are still logged);
- the console's login callback is logged without its query: the WeCom code and state in it
  are nobody's business once used (and the code is single-use anyway).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.web_log import AccessLogger
from yarl import URL

from bot.console.login import CALLBACK_PATH
from bot.tracking import PUSH_PATH


class AccessLog(AccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if response.status == 200 and request.path == PUSH_PATH:
            return
        if request.path == CALLBACK_PATH and request.query_string:
            request = request.clone(rel_url=URL(CALLBACK_PATH))
        super().log(request, response, time)
