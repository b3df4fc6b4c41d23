"""Reconciliation reads and writes: a bill day's lines, the payments and refunds it is matched
against, as polars frames (a large shop's day is a million rows: read with plain SQL, the
times parsed column-wise), and the runs and their differences."""

from __future__ import annotations

import asyncio
import json
import sys
from asyncio.subprocess import PIPE, Process
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import polars as pl
from sqlalchemy import BindParameter, Date, Dialect, Row, bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import arrow_snapshot
from storage.bulk import fetch_text, insert_rows, update_by_id, update_columns
from storage.conflicts import insert_ignoring_duplicates
from storage.db import rows_matched
from storage.models import ReconDifference, ReconRun, UtcDateTime
from storage.statements import lines_of, unpack

_UTC = pl.Datetime("us", "UTC")
_SNAPSHOT = "orderbot_recon_snapshot"  # session.info: the process the reads go to
_READER = Path(arrow_snapshot.__file__)  # run as a script: the driver loads only there


# Bill lines from which a day on SQLite is read by a process of its own: starting it costs
# ~0.3 s, reading a day's rows there instead of here saves ~2 µs a row.
LARGE_DAY = 200_000


@asynccontextmanager
async def one_snapshot(session: AsyncSession, lines: int) -> AsyncIterator[None]:
    """Within the block, this module's reads on ``session`` (of a day of ``lines`` bill lines)
    come from one snapshot of the database. A large day (``LARGE_DAY``) on a SQLite file is
    read by a process of its own (storage.arrow_snapshot) in its read transaction, by ADBC
    straight into Arrow: a day's million payments as Python tuples through sqlite3 and then a
    frame cost ~3x as much, in this process. Every read goes there, none to the session,
    whose transaction may be at an earlier snapshot: the payments and the numbers looked up
    to complete them, the bills and the count of them agree. Each answer passes through a
    file in the temporary folder (~150 MB for a million payments), mapped, not piped. Else
    the reads stay in the session's transaction, as before (on PostgreSQL ADBC's driver was
    no faster than COPY)."""
    path = _sqlite_file(session)
    if path is None or lines < LARGE_DAY:
        yield
        return
    with TemporaryDirectory(prefix="orderbot-snapshot-") as folder:
        reader = await asyncio.create_subprocess_exec(
            sys.executable, "-P", str(_READER), path, stdin=PIPE, stdout=PIPE
        )
        session.info[_SNAPSHOT] = _Snapshot(reader, Path(folder))
        try:
            yield
        finally:
            del session.info[_SNAPSHOT]
            await _stop(reader)


def _sqlite_file(session: AsyncSession) -> str | None:
    url = session.get_bind().engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return str(Path(url.database).resolve())


async def _stop(reader: Process) -> None:
    """Its transaction rolled back as its input closes; killed if it does not end soon."""
    assert reader.stdin is not None
    reader.stdin.close()
    try:
        await asyncio.wait_for(reader.wait(), 10)
    except BaseException:
        if reader.returncode is None:
            reader.kill()
        raise


@dataclass
class _Snapshot:
    reader: Process
    folder: Path  # where it writes the rows
    asked: int = 0


async def _arrow(
    snapshot: _Snapshot, sql: str, args: list[Any], schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """The query's rows from the snapshot's process, named and typed by ``schema`` (its
    columns in order). The file is mapped, not copied, and unlinked at once (the mapping
    stays while the frame needs it)."""
    reader = snapshot.reader
    assert reader.stdin is not None and reader.stdout is not None
    snapshot.asked += 1
    rows = snapshot.folder / f"{snapshot.asked}.arrow"
    reader.stdin.write(json.dumps({"sql": sql, "args": args, "to": str(rows)}).encode() + b"\n")
    await reader.stdin.drain()
    status = await reader.stdout.readexactly(1)
    error = await reader.stdout.readexactly(int.from_bytes(await reader.stdout.readexactly(8)))
    if status != arrow_snapshot.ROWS:
        raise RuntimeError(f"reading the day's snapshot: {error.decode()}")
    frame = pl.read_ipc(rows)
    rows.unlink()
    return frame.rename(dict(zip(frame.columns, schema, strict=True))).cast(pl.Schema(schema))


async def _frame(
    session: AsyncSession, sql: str, schema: dict[str, pl.DataType], **params: Any
) -> pl.DataFrame:
    """A query's rows as a frame; ``*_at`` columns come back as text or PostgreSQL's naive
    UTC and leave as aware UTC. A day's million rows would cost more as SQLAlchemy's Row
    objects than the frame: in the day's snapshot (``one_snapshot``) they come by ADBC as
    Arrow, else on SQLite from the driver as they are (storage.bulk.fetch_text), on PostgreSQL
    as CSV by COPY, read by polars. A look-up of numbers (a list parameter, expanded by
    SQLAlchemy) is a few hundred rows: the session's."""
    raw = {n: (pl.String() if t == _UTC else t) for n, t in schema.items()}
    snapshot = session.info.get(_SNAPSHOT)
    if snapshot is not None:
        query, args = _positional(session.get_bind().dialect, sql, params)
        args = [v.isoformat() if isinstance(v, date) else v for v in args]  # as Date binds it
        frame = await _arrow(snapshot, query, args, raw)
    elif any(isinstance(v, list) for v in params.values()):
        result = await session.execute(text(sql).bindparams(*_binds(params)), params)
        frame = pl.DataFrame(result.all(), schema=raw if _texts(session) else schema, orient="row")
    elif _texts(session):
        frame = pl.DataFrame(await fetch_text(session, sql, params), schema=raw, orient="row")
    else:
        frame = pl.read_csv(
            await _copied(session, sql, params), has_header=False, schema=raw, raise_if_empty=False
        )
    for name, dtype in schema.items():
        if dtype == _UTC and frame.schema[name] == pl.String():
            frame = frame.with_columns(
                pl.col(name).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_zone="UTC")
            )
        elif dtype == _UTC:
            frame = frame.with_columns(pl.col(name).dt.replace_time_zone("UTC"))
    return frame


def _positional(dialect: Dialect, sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """The query as the dialect's positional SQL (lists expanded) and its arguments, aware
    times as the column stores them."""
    compiled = (
        text(sql)
        .bindparams(*_binds(params))
        .compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    )
    values = compiled.construct_params()
    return compiled.string, [
        UtcDateTime().process_bind_param(v, dialect) if isinstance(v, datetime) else v
        for v in (values[name] for name in compiled.positiontup or ())
    ]


async def _copied(session: AsyncSession, sql: str, params: dict[str, Any]) -> bytes:
    """PostgreSQL: the query's rows as CSV, by COPY on the session's own connection (in its
    transaction). NULL comes as an empty field and an empty text as ``""``, which polars reads
    back as null and as empty text."""
    query, args = _positional(session.get_bind().dialect, sql, params)
    parts: list[bytes] = []

    async def take(data: bytes) -> None:
        parts.append(data)

    # Through the session first: it begins the transaction the COPY then runs in.
    await session.execute(text("SET LOCAL DateStyle TO ISO"))  # times as ISO text
    connection = await session.connection()
    raw: Any = (await connection.get_raw_connection()).driver_connection  # asyncpg's
    await raw.copy_from_query(query, *args, output=take, format="csv")
    return b"".join(parts)


def _binds(params: dict[str, Any]) -> list[BindParameter[Any]]:
    """The values, days and aware times bound by their column types, lists expanded
    (``IN :numbers``)."""
    return [
        bindparam(
            name,
            v,
            type_=Date()
            if isinstance(v, date) and not isinstance(v, datetime)
            else UtcDateTime()
            if isinstance(v, datetime)
            else None,
            expanding=isinstance(v, list),
        )
        for name, v in params.items()
    ]


def _texts(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


LINES = {
    "trade_at": _UTC,
    "merchant_order_no": pl.String(),
    "gateway_trade_no": pl.String(),
    "kind": pl.String(),
    "amount_fen": pl.Int64(),
    "refund_fen": pl.Int64(),
    "refund_no": pl.String(),
    "gateway_refund_no": pl.String(),
    "fee_milli": pl.Int64(),
}


async def _statements(
    session: AsyncSession, gateway: str, since: date, until: date | None, trade_only: bool = True
) -> list[int]:
    """The gateway's statements of the days [since, until) (until None: every later day)."""
    sql = "SELECT id FROM statements WHERE gateway = :gateway AND bill_date >= :since"
    params: dict[str, Any] = {"gateway": gateway, "since": since}
    if until is not None:
        sql, params = f"{sql} AND bill_date < :until", params | {"until": until}
    if trade_only:
        sql += " AND kind = 'trade'"
    found = await _frame(session, f"{sql} ORDER BY id", {"id": pl.Int64()}, **params)
    return found["id"].to_list()


async def _lines(session: AsyncSession, statement_id: int, columns: Sequence[str]) -> pl.DataFrame:
    """A stored statement's lines (storage.statements.lines_of), in the day's snapshot when
    there is one."""
    if _SNAPSHOT not in session.info:
        return await lines_of(session, statement_id, columns)
    sql = "SELECT lines FROM statements WHERE id = :statement_id"
    blob = await _frame(session, sql, {"lines": pl.Binary()}, statement_id=statement_id)
    return unpack(blob.item(), columns)


async def bill_lines(
    session: AsyncSession, gateway: str, day: date, columns: Sequence[str] = tuple(LINES)
) -> pl.DataFrame:
    """The payment and refund lines of the gateway's trade bills of the day (only
    ``columns``, when given: a frame of ``LINES``' columns)."""
    kind = pl.col("kind").is_in(["payment", "refund"])
    frames = [
        (await _lines(session, statement_id, list(dict.fromkeys([*columns, "kind"]))))
        .filter(kind)
        .select(columns)
        for statement_id in await _statements(session, gateway, day, day + timedelta(days=1))
    ]
    return pl.concat(frames) if frames else pl.DataFrame(schema={c: LINES[c] for c in columns})


async def bill_size(session: AsyncSession, gateway: str, day: date) -> int:
    """How many lines the gateway's trade bills of the day have."""
    return await _of_trade_bills(session, gateway, day, "coalesce(sum(line_count), 0)")


async def bill_days(session: AsyncSession, gateway: str, day: date) -> int:
    """How many trade bills of the gateway's day are stored."""
    return await _of_trade_bills(session, gateway, day, "count(*)")


async def _of_trade_bills(session: AsyncSession, gateway: str, day: date, what: str) -> int:
    found = await _frame(
        session,
        f"SELECT {what} FROM statements WHERE gateway = :gateway AND kind = 'trade' "
        "AND bill_date = :day",
        {"n": pl.Int64()},
        gateway=gateway,
        day=day,
    )
    return int(found.item())


_ORDER = {
    "order_id": pl.Int64(),
    "order_no": pl.String(),
    "shop": pl.String(),
    "channel": pl.String(),
}
_ORDER_SQL = "o.id, o.channel_order_id, o.shop, o.channel"
PAYMENTS = _ORDER | {
    "serial": pl.String(),
    "stage": pl.String(),
    "expected_fen": pl.Int64(),
    "paid_at": _UTC,
}


async def payments_between(
    session: AsyncSession, gateway: str, start: datetime, end: datetime
) -> pl.DataFrame:
    """The gateway's payments made in [start, end), each owing its amount less vouchers."""
    return await _frame(
        session,
        f"SELECT {_ORDER_SQL}, p.serial, p.phase, "
        "coalesce(p.amount_fen, 0) - p.voucher_fen, p.paid_at "
        "FROM order_payments p JOIN orders o ON o.id = p.order_id "
        "WHERE p.method = :gateway AND p.paid_at >= :start AND p.paid_at < :end",
        PAYMENTS,
        gateway=gateway,
        start=start,
        end=end,
    )


_CHUNK = 5_000  # numbers per query (SQLite and asyncpg take up to 32,766 parameters)


LINE_NUMBERS = {  # the numbers a trade bill's line of each kind is known by (ours, theirs)
    "payment": ("merchant_order_no", "gateway_trade_no"),
    "refund": ("refund_no", "gateway_refund_no"),
}


async def billed_before(
    session: AsyncSession, gateway: str, day: date, since: date, numbers: dict[str, list[str]]
) -> dict[str, set[str]]:
    """Of these payment serials and refund numbers (by the kind of line that lists them:
    ``payment``, ``refund``), those that such a line of a trade bill of the gateway of the days
    [since, day) lists. Each bill is read once, alone, its numbers only, and left at once: a
    month of a large shop's bills is tens of millions of lines."""
    found: dict[str, set[str]] = {kind: set() for kind in numbers}
    wanted = {k: pl.Series(v, dtype=pl.String).implode() for k, v in numbers.items() if v}
    if not wanted:
        return found
    columns = ["kind", *(column for kind in wanted for column in LINE_NUMBERS[kind])]
    for statement_id in await _statements(session, gateway, since, day):
        lines = await _lines(session, statement_id, columns)
        for kind, these in wanted.items():
            ours, theirs = LINE_NUMBERS[kind]
            of_kind = lines.filter(pl.col("kind") == kind)
            listed = pl.concat([of_kind[ours], of_kind[theirs]])
            found[kind].update(listed.filter(listed.is_in(these)).to_list())
    return found


async def deposits_in_bills(
    session: AsyncSession, gateway: str, order_ids: Sequence[int], since: date
) -> set[int]:
    """Of these orders, those whose 定金 is in one of the gateway's bills (trade or fund flow)
    of ``since`` or later."""
    if not order_ids:
        return set()
    sql = (
        "SELECT p.order_id, p.serial FROM order_payments p "
        "WHERE p.phase = 'deposit' AND p.order_id IN :ids"
    )
    schema = {"order_id": pl.Int64(), "serial": pl.String()}
    deposits: list[tuple[int, str]] = []
    for low in range(0, len(order_ids), _CHUNK):
        found = await _frame(session, sql, schema, ids=list(order_ids[low : low + _CHUNK]))
        deposits += found.rows()
    serials = pl.Series([serial for _, serial in deposits], dtype=pl.String).implode()
    billed: set[str] = set()
    for statement_id in await _statements(session, gateway, since, None, trade_only=False):
        lines = await _lines(
            session, statement_id, ["kind", "merchant_order_no", "gateway_trade_no"]
        )
        paid = lines.filter(pl.col("kind") == "payment")
        listed = pl.concat([paid["merchant_order_no"], paid["gateway_trade_no"]])
        billed.update(listed.filter(listed.is_in(serials)).to_list())
    return {order_id for order_id, serial in deposits if serial in billed}


REFUNDS = _ORDER | {
    "refund_no": pl.String(),
    "serial": pl.String(),
    "amount_fen": pl.Int64(),
    "refunded_at": _UTC,
}


async def refunds_between(
    session: AsyncSession, gateway: str, start: datetime, end: datetime
) -> pl.DataFrame:
    return await _frame(
        session,
        f"SELECT {_ORDER_SQL}, r.refund_no, r.serial, r.amount_fen, r.refunded_at "
        "FROM order_refunds r JOIN orders o ON o.id = r.order_id "
        "WHERE r.method = :gateway AND r.refunded_at >= :start AND r.refunded_at < :end",
        REFUNDS,
        gateway=gateway,
        start=start,
        end=end,
    )


_METHOD: dict[str, pl.DataType] = {"method": pl.String()}
_NUMBERED = {  # kind → its rows by number (the payment serial, the refund number), its schema
    "payment": (
        f"SELECT {_ORDER_SQL}, p.serial, p.phase, coalesce(p.amount_fen, 0) - p.voucher_fen, "
        "p.paid_at, p.method FROM order_payments p JOIN orders o ON o.id = p.order_id "
        "WHERE p.serial IN :numbers",
        PAYMENTS,
    ),
    "refund": (
        f"SELECT {_ORDER_SQL}, r.refund_no, r.serial, r.amount_fen, r.refunded_at, r.method "
        "FROM order_refunds r JOIN orders o ON o.id = r.order_id WHERE r.refund_no IN :numbers",
        REFUNDS,
    ),
}


async def numbered(
    session: AsyncSession, kind: str, gateway: str, numbers: Sequence[str]
) -> pl.DataFrame:
    """The gateway's payments with these serials (``kind`` payment) or refunds with these
    refund numbers (refund), whenever made or with no time known, ``_CHUNK`` numbers a query.
    The gateway is not asked in SQL: SQLite, without statistics, would then walk the index on
    (method, time), every payment of the gateway, instead of looking the numbers up."""
    sql, schema = _NUMBERED[kind]
    frames = [
        await _frame(session, sql, schema | _METHOD, numbers=list(numbers[low : low + _CHUNK]))
        for low in range(0, len(numbers), _CHUNK)
    ]
    found = pl.concat(frames) if frames else pl.DataFrame(schema=schema | _METHOD)
    return found.filter(pl.col("method") == gateway).drop("method")


DEPOSITS = _ORDER | {
    "serial": pl.String(),
    "expected_fen": pl.Int64(),
    "paid_at": _UTC,
    "final_paid": pl.Boolean(),
}


async def deposits_between(
    session: AsyncSession, gateway: str, start: datetime, end: datetime
) -> pl.DataFrame:
    """The gateway's 定金 paid in [start, end), each with the balance its order still owes and
    whether any 尾款 was paid."""
    frame = await _frame(
        session,
        f"SELECT {_ORDER_SQL}, p.serial, o.amount_fen - coalesce(p.amount_fen, 0), p.paid_at, "
        "(SELECT count(*) FROM order_payments f WHERE f.order_id = p.order_id "
        "AND f.phase = 'final') "
        "FROM order_payments p JOIN orders o ON o.id = p.order_id "
        "WHERE p.method = :gateway AND p.phase = 'deposit' "
        "AND p.paid_at >= :start AND p.paid_at < :end",
        DEPOSITS | {"final_paid": pl.Int64()},
        gateway=gateway,
        start=start,
        end=end,
    )
    return frame.with_columns(pl.col("final_paid") > 0)


# --- runs and differences ---


async def run_of(session: AsyncSession, gateway: str, day: date) -> ReconRun | None:
    found: ReconRun | None = await session.scalar(
        select(ReconRun).where(ReconRun.gateway == gateway, ReconRun.bill_date == day)
    )
    return found


async def save_run(
    session: AsyncSession,
    gateway: str,
    day: date,
    counts: dict[str, Any],
    now: datetime,
    runs_seen: int,
) -> ReconRun | None:
    """The day's run row, created or updated with this run's counts, if it still has the
    ``runs_seen`` runs the run read (0: no row); None when another run stored the day since
    (this one's findings are not stored: two instances never both store a day). Sound on both
    databases: SQLite's writers take turns whole (BEGIN IMMEDIATE); on PostgreSQL the second
    INSERT waits for the first to commit and then does nothing, the second UPDATE waits for
    the row and then finds its count changed."""
    table = ReconRun.__table__
    if runs_seen == 0:
        first = {"gateway": gateway, "bill_date": day, "runs": 1, "first_run_at": now}
        insert = insert_ignoring_duplicates(session, ReconRun).values(
            first | counts | {"last_run_at": now}
        )
        stored = (await session.execute(insert.returning(table.c.id))).first() is not None
    else:
        change = (
            update(table)
            .where(table.c.gateway == gateway, table.c.bill_date == day)
            .where(table.c.runs == runs_seen)
            .values(counts | {"runs": runs_seen + 1, "last_run_at": now})
        )
        stored = rows_matched(await session.execute(change)) == 1
    if not stored:
        return None
    return await run_of(session, gateway, day)


async def differences_of(session: AsyncSession, gateway: str, day: date) -> list[ReconDifference]:
    query = select(ReconDifference).where(
        ReconDifference.gateway == gateway, ReconDifference.bill_date == day
    )
    return list((await session.scalars(query)).all())


_DIFFERENCES = ReconDifference.__table__


async def day_differences(session: AsyncSession, gateway: str, day: date) -> list[Row[Any]]:
    """The day's differences as plain rows (``id``, ``cls``, ``key``, ``status``,
    ``ticket_id``): what a run compares its findings with. A large shop's day has tens of
    thousands, each an ORM object would cost ten times its row."""
    table = _DIFFERENCES
    query = select(table.c.id, table.c.cls, table.c.key, table.c.status, table.c.ticket_id)
    return list(
        await session.execute(query.where(table.c.gateway == gateway, table.c.bill_date == day))
    )


DIGEST_SCHEMA = pl.Schema(  # what a run's digest lists of each open difference
    {
        "ticket_id": pl.Int64(),
        "cls": pl.String(),
        "reason": pl.String(),
        "shop": pl.String(),
        "order_no": pl.String(),
        "serial": pl.String(),
        "stage": pl.String(),
        "expected_fen": pl.Int64(),
        "actual_fen": pl.Int64(),
        "at_stake_fen": pl.Int64(),
    }
)


async def open_differences(session: AsyncSession, gateway: str, day: date) -> pl.DataFrame:
    """The day's open differences, in the order they were found: ``DIGEST_SCHEMA``."""
    table = _DIFFERENCES
    query = (
        select(*(table.c[name] for name in DIGEST_SCHEMA))
        .where(table.c.gateway == gateway, table.c.bill_date == day, table.c.status == "open")
        .order_by(table.c.id)
    )
    found = (await session.execute(query)).all()
    return pl.DataFrame(found, schema=DIGEST_SCHEMA, orient="row")


async def add_differences(
    session: AsyncSession, rows: Sequence[dict[str, Any]]
) -> dict[tuple[str, str], int]:
    """Insert differences; the id of each by its (``cls``, ``key``)."""
    inserted = await insert_rows(session, ReconDifference, rows, ("id", "cls", "key"))
    return {(cls, key): difference_id for difference_id, cls, key in inserted}


async def update_differences(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Rows by ``difference_id`` (the columns given are set): one executemany per shape."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(sorted(row)), []).append(row)
    for names, same in shapes.items():
        columns = [name for name in names if name != "difference_id"]
        await update_columns(
            session,
            ReconDifference,
            columns,
            [{"id": row["difference_id"]} | {n: row[n] for n in columns} for row in same],
        )


async def set_tickets(session: AsyncSession, tickets: dict[int, int]) -> None:
    """Each difference's ticket: ``tickets`` maps a difference's id to its ticket's."""
    await update_by_id(session, ReconDifference, "ticket_id", list(tickets.items()))


async def runs_of(session: AsyncSession, day: date, gateway: str | None) -> list[ReconRun]:
    query = select(ReconRun).where(ReconRun.bill_date == day).order_by(ReconRun.gateway)
    if gateway is not None:
        query = query.where(ReconRun.gateway == gateway)
    return list((await session.scalars(query)).all())


async def difference_by_ticket(session: AsyncSession, ticket_id: int) -> ReconDifference | None:
    found: ReconDifference | None = await session.scalar(
        select(ReconDifference).where(ReconDifference.ticket_id == ticket_id)
    )
    return found
