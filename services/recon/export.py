"""``orderbot recon export``: the standard reconciliation report of a day for an ERP, one row
per order and payment of every gateway reconciled, and the daily summary per shop and gateway
(rules.recon.export). The matching is done again, read only, so the rows are the day's as the
stored bills and orders stand; each difference's state (open, closed, written off) is the
stored one."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import polars as pl

from rules.recon.export import report_rows, summary_rows, to_csv, to_xlsx
from rules.recon.matching import ROW_SCHEMA
from services.config import Config
from services.recon.run import load_inputs, match
from services.rulebook import policy_in_force
from storage import recon as db
from storage.db import begin_reading
from storage.migrate import migrated_sessions


async def export_day(config: Config, bill_date: date, fmt: str, gateway: str | None) -> bytes:
    reports, summaries = [], []
    async with migrated_sessions(config.database.url) as sessions, sessions() as session:
        policy = await policy_in_force(sessions, config, datetime.now(UTC))  # the rules in force
        await begin_reading(session)
        for name in (gateway,) if gateway else config.recon.gateways:
            inputs = await load_inputs(session, policy, name, bill_date)
            if not inputs.bills:
                continue
            found = await asyncio.to_thread(match, inputs)
            stored = await db.differences_of(session, name, bill_date)
            classes = pl.DataFrame(
                {
                    "key": [d.key for d in stored],
                    "cls": [d.cls for d in stored],
                    "state": [d.status for d in stored],
                },
                schema={"key": pl.String, "cls": pl.String, "state": pl.String},
            )
            stakes = found.differences.group_by("key").agg(pl.col("at_stake_fen").sum())
            reports.append(report_rows(bill_date, name, found.rows, classes))
            summaries.append(summary_rows(bill_date, name, found.rows, stakes))
    report = pl.concat(reports) if reports else report_rows(bill_date, "", _empty(), _no_classes())
    summary = (
        pl.concat(summaries) if summaries else summary_rows(bill_date, "", _empty(), _no_stakes())
    )
    if fmt == "csv":
        return to_csv(report, summary)
    return await asyncio.to_thread(to_xlsx, [("对账明细", report), ("每日汇总", summary)])


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=ROW_SCHEMA)


def _no_classes() -> pl.DataFrame:
    return pl.DataFrame(schema={"key": pl.String, "cls": pl.String, "state": pl.String})


def _no_stakes() -> pl.DataFrame:
    return pl.DataFrame(schema={"key": pl.String, "at_stake_fen": pl.Int64})
