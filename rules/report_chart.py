"""An SLA report as a PNG for a WeCom group robot image message: daily attainment beside the
tickets opened per local hour.

Uses a bare ``Figure`` on an Agg canvas, never pyplot, so there is no global figure state and
it may run in ``asyncio.to_thread``. All chart text is ASCII: the machine has no CJK font (a
missing glyph is a warning, an error under the test suite); the Chinese caption goes in the
markdown message.
"""

from __future__ import annotations

import io
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from rules.report import Report

MAX_IMAGE_BYTES = 2 * 1024 * 1024  # WeCom's limit for a robot image message
_SIZE_INCHES = (10, 4)
_DPI = 100  # 1000 x 400 px


def render_chart(report: Report) -> bytes:
    """The two panels as PNG bytes; ValueError if the image exceeds ``MAX_IMAGE_BYTES``."""
    figure = Figure(figsize=_SIZE_INCHES, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    daily, hourly = figure.subplots(1, 2)

    positions = range(len(report.daily))
    rates = [math.nan if rate is None else rate * 100 for _, rate in report.daily]
    daily.plot(positions, rates, marker="o", clip_on=False)  # NaN leaves a gap
    daily.set_xticks(positions, [f"{day:%m-%d}" for day, _ in report.daily])
    daily.set_xlim(-0.5, max(len(report.daily), 1) - 0.5)
    daily.set_ylim(0, 100)
    daily.set_title("SLA attained (%)")
    daily.grid(axis="y", alpha=0.3)

    hours = report.opened_by_hour
    hourly.bar(range(len(hours)), hours)
    hourly.set_xticks(range(0, 24, 3))
    hourly.set_xlim(-0.6, 23.6)
    hourly.set_ylim(0, max(max(hours, default=0), 1) * 1.1)
    hourly.yaxis.set_major_locator(MaxNLocator(integer=True))
    hourly.set_title(f"Tickets opened by hour ({report.period.label})")
    hourly.set_xlabel(f"Local hour ({report.period.tz})")
    hourly.grid(axis="y", alpha=0.3)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    data = buffer.getvalue()
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"chart is {len(data)} bytes, over the {MAX_IMAGE_BYTES} byte limit")
    return data
