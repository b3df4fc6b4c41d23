"""One gateway's bill day matched against the order pool, column-wise (polars).

The unit is a payment: its serial (the number the gateway lists: 商户订单号, or the gateway's
own transaction number where the channel gives that, as Taobao's ``alipay_no``) of an order.
A bill line is keyed by its 商户订单号 when that is a known serial, else by its transaction
number. Expected (应收) is the payment's amount less the vouchers the merchant funds; actual
(实收) is what the bill settles for it, the fee and refunds apart. Refunds are matched by our
refund number.

Serial first (and a refund by its number first): a payment whose serial is in the day's bill
is matched there whatever its time (a Taobao presale stage's time is only where the pool could
place it, see channels.taobao; a payment stored without a time has none), unless an earlier
day's bill already had it. The time decides only what the day's bill should have had.

The day boundary: a payment made in the last ``carry`` before midnight (Beijing) may be in the
next day's bill. Missing from its own day's bill it is pending, not a difference; the next
day's run looks for it again (unless the day's bill had it) and only then calls it missing.
A payment of the day that an earlier day's bill had (``billed_before``: its time was placed
after the money moved) is not looked for again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

from rules.recon import Difference
from rules.recon.fees import expected_fee_milli

_UTC = pl.Datetime("us", "UTC")
PAYMENT_SCHEMA = pl.Schema(
    {
        "order_id": pl.Int64(),
        "order_no": pl.String(),
        "shop": pl.String(),
        "channel": pl.String(),
        "serial": pl.String(),
        "stage": pl.String(),  # full | deposit | final
        "expected_fen": pl.Int64(),  # amount less the merchant's vouchers
        "paid_at": _UTC,  # null: not known (matched only by serial)
        "deposit_seen": pl.Boolean(),  # a final's 定金 is in some bill (settles the order)
        "billed_before": pl.Boolean(),  # the serial is in one of the gateway's earlier bills
    }
)
REFUND_SCHEMA = pl.Schema(
    {
        "order_id": pl.Int64(),
        "order_no": pl.String(),
        "shop": pl.String(),
        "channel": pl.String(),
        "refund_no": pl.String(),
        "serial": pl.String(),
        "amount_fen": pl.Int64(),
        "refunded_at": _UTC,
        "billed_before": pl.Boolean(),  # the refund number is in one of the earlier bills
    }
)
DEPOSIT_SCHEMA = pl.Schema(
    {
        "order_id": pl.Int64(),
        "order_no": pl.String(),
        "shop": pl.String(),
        "channel": pl.String(),
        "serial": pl.String(),
        "expected_fen": pl.Int64(),
        "paid_at": _UTC,
        "final_paid": pl.Boolean(),
    }
)
LINE_COLUMNS = (
    "trade_at",
    "merchant_order_no",
    "gateway_trade_no",
    "kind",
    "amount_fen",
    "refund_fen",
    "refund_no",
    "gateway_refund_no",
    "fee_milli",
)
ROW_SCHEMA = pl.Schema(
    {
        "key": pl.String(),  # the serial, or ``refund:<refund number>``
        "stage": pl.String(),  # full | deposit | final | refund
        "order_id": pl.Int64(),
        "order_no": pl.String(),
        "shop": pl.String(),
        "channel": pl.String(),
        "serial": pl.String(),
        "expected_fen": pl.Int64(),
        "actual_fen": pl.Int64(),
        "fee_milli": pl.Int64(),
        "refund_fen": pl.Int64(),
        "lines": pl.Int64(),  # bill lines found for it
        "at": _UTC,  # when paid / refunded (the order's), else the bill's
        "status": pl.String(),  # matched | settled | pending | difference
    }
)
DIFFERENCE_SCHEMA = pl.Schema(
    {
        "cls": pl.String(),
        "key": pl.String(),
        "stage": pl.String(),
        "order_id": pl.Int64(),
        "order_no": pl.String(),
        "shop": pl.String(),
        "channel": pl.String(),
        "serial": pl.String(),
        "expected_fen": pl.Int64(),
        "actual_fen": pl.Int64(),
        "fee_milli": pl.Int64(),
        "fee_expected_milli": pl.Int64(),
        "lines": pl.Int64(),
        "at": _UTC,
        "carried": pl.Boolean(),  # paid before the day, waited for this day's bill
        "at_stake_fen": pl.Int64(),  # the money the difference is about
    }
)


@dataclass(frozen=True)
class Day:
    """The bill day (Beijing) and its bounds in UTC, and how what it is matched against."""

    bill_date: date
    start: datetime  # aware UTC: the day's first moment
    end: datetime  # aware UTC: the next day's first moment
    carry: timedelta  # a payment this close to midnight may be in the next day's bill
    fee_ppm: int | None  # the contracted rate; None: fees are not checked
    fee_tolerance_milli: int  # a fee this far from the contracted one is no difference


@dataclass(frozen=True)
class Match:
    rows: pl.DataFrame  # ROW_SCHEMA: every payment and refund looked at, and every bill key
    differences: pl.DataFrame  # DIFFERENCE_SCHEMA


def match_day(
    day: Day,
    payments: pl.DataFrame,
    refunds: pl.DataFrame,
    lines: pl.DataFrame,
    previous_lines: pl.DataFrame,
    deposits_due: pl.DataFrame,
) -> Match:
    """Match the day's bill ``lines`` (the trade lines of the gateway's bills of the day)
    against the ``payments`` and ``refunds`` made from ``day.start - day.carry`` to
    ``day.end``, and those (made whenever) whose serial the day's bill lists; ``previous_lines``
    (the day before's bill) tell which of those made near the previous midnight were matched
    there already, a payment's (refund's) ``billed_before`` which an earlier bill had (the
    caller needs to know it only for those the day's bill lacks or made outside the window).
    Refunds likewise: those made in the window and those whose number the bill lists.
    ``deposits_due``: presale deposits whose balance window closed on the day, each with the
    balance owed as ``expected_fen``."""
    paid_rows, paid_diffs = _payments(day, payments, lines, previous_lines)
    refund_rows, refund_diffs = _refunds(day, refunds, lines, previous_lines)
    differences = pl.concat(
        [paid_diffs, refund_diffs, _balance(deposits_due)], how="diagonal_relaxed"
    )
    rows = pl.concat([paid_rows, refund_rows], how="diagonal_relaxed")
    flagged = differences.filter(pl.col("cls") != Difference.BALANCE_UNPAID)["key"].unique()
    rows = rows.with_columns(
        status=pl.when(pl.col("key").is_in(flagged.implode()))
        .then(pl.lit("difference"))
        .otherwise(pl.col("status"))
    )
    differences = differences.with_columns(at_stake_fen=_at_stake())
    return Match(
        rows.select(ROW_SCHEMA.names()).cast(ROW_SCHEMA),
        differences.select(DIFFERENCE_SCHEMA.names()).cast(DIFFERENCE_SCHEMA),
    )


def _window(
    day: Day,
    frame: pl.DataFrame,
    at: str,
    key: str,
    seen: pl.Series,
    billed: pl.Series | None = None,
) -> pl.DataFrame:
    """What was made in the day or in the carry before it; of the latter only what the
    previous day's bill did not have (``seen``: its keys). With ``billed`` (the day's bill's
    keys) also what the day's bill lists, made whenever: asked only of the rows made outside
    the day (the others are due anyway), which are few, so a day's million keys are not
    looked up a million times."""
    moment, keyed = pl.col(at), pl.col(key)
    early = (moment >= day.start - day.carry) & (moment < day.start)
    marked = frame.with_columns(carried=early.fill_null(False))
    # The previous bill is asked only of what was made in the carry (few).
    was_seen = _among(seen, marked.filter("carried")[key]).implode()
    due = (
        (moment >= day.start - day.carry) & (moment < day.end) & ~(early & keyed.is_in(was_seen))
    ).fill_null(False)
    marked = marked.with_columns(due=due)
    if billed is None:
        return marked.filter("due").drop("due")
    outside = marked.filter(~pl.col("due"))
    listed = outside.filter(keyed.is_in(_among(billed, outside[key]).implode()))
    return pl.concat([marked.filter("due"), listed]).drop("due")


def _among(numbers: pl.Series, few: pl.Series) -> pl.Series:
    """Those of the (many) ``numbers`` that are among the ``few``, to look the few up in:
    ``few.is_in(numbers)`` would hash every number, a day's million, for each question; here
    only the few are hashed."""
    return numbers.filter(numbers.is_in(few.implode()))


def _repeats(values: pl.Series) -> pl.Series:
    """``values.is_duplicated()``, the numbers compared only where their 64-bit hashes repeat
    (the repeats, and any two that collide): a day's million numbers cost half as much."""
    maybe = values.hash().is_duplicated()
    return maybe.scatter(maybe.arg_true(), values.filter(maybe).is_duplicated())


def _keys(lines: pl.DataFrame, *columns: str) -> pl.Series:
    """The numbers in these columns (repeats kept: they only serve to look numbers up)."""
    return pl.concat([lines[c] for c in columns]).drop_nulls()


def _owed(frame: pl.DataFrame, key: str, amount: str) -> pl.DataFrame:
    """The order side by key: a payment several orders share (合并付款) is one, owing their sum.
    Only the keys that repeat are grouped (few): the rest are passed as they are."""
    shared = _repeats(frame[key])
    stage = pl.col("stage") if "stage" in frame.columns else pl.lit("refund").alias("stage")
    deposit_seen = (
        pl.col("deposit_seen").fill_null(False)
        if "deposit_seen" in frame.columns
        else pl.lit(False)
    ).alias("deposit_seen")
    serial = [] if key == "serial" else [pl.col("serial")]
    alone = frame.filter(~shared).select(
        key,
        "order_id",
        "order_no",
        "shop",
        "channel",
        stage,
        *serial,
        pl.col(amount).alias("expected_fen"),
        "at",
        "carried",
        deposit_seen,
    )
    grouped = (
        frame.filter(shared)
        .group_by(key)
        .agg(
            pl.col("order_id").first(),
            pl.col("order_no").unique(maintain_order=True).str.join(","),
            pl.col("shop").first(),
            pl.col("channel").first(),
            stage.first(),
            *(c.first() for c in serial),
            pl.col(amount).sum().alias("expected_fen"),
            pl.col("at").min(),
            pl.col("carried").all(),
            deposit_seen.all(),
        )
    )
    return pl.concat([alone, grouped], how="vertical_relaxed")


def _by_key(lines: pl.DataFrame, **sums: tuple[str, str]) -> pl.DataFrame:
    """The bill side by key: how many ``lines`` each key has and, per output name, a column
    and how its lines combine (``sum``, ``min``, ``first``). Only keys that repeat (duplicates:
    few) are grouped; a key's one line is its own total."""
    repeated = _repeats(lines["key"])
    alone = lines.filter(~repeated).select(
        "key",
        pl.lit(1, pl.UInt32).alias("lines"),
        *(pl.col(column).alias(name) for name, (column, _) in sums.items()),
    )
    grouped = (
        lines.filter(repeated)
        .group_by("key")
        .agg(
            pl.len().alias("lines"),
            *(getattr(pl.col(column), how)().alias(name) for name, (column, how) in sums.items()),
        )
    )
    return pl.concat([alone, grouped], how="vertical_relaxed")


def _payments(
    day: Day, payments: pl.DataFrame, lines: pl.DataFrame, previous_lines: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    seen = _keys(
        previous_lines.filter(pl.col("kind") == "payment"), "merchant_order_no", "gateway_trade_no"
    )
    paid = lines.filter(pl.col("kind") == "payment")
    listed = _keys(paid, "merchant_order_no", "gateway_trade_no")
    fresh = payments.filter(~pl.col("billed_before").fill_null(False))
    due = _window(day, fresh, "paid_at", "serial", seen, listed).rename({"paid_at": "at"})
    serials = due["serial"].implode()
    ours, theirs = pl.col("merchant_order_no"), pl.col("gateway_trade_no")
    # A line's key: its 商户订单号 when that is a serial, else its transaction number when that
    # is one, else whichever it has. The second question is asked only of the lines the first
    # did not settle.
    paid = paid.with_columns(known=ours.is_in(serials).fill_null(False))
    rest = paid.filter(~pl.col("known"))
    theirs_known = theirs.is_in(_among(due["serial"], rest["gateway_trade_no"]).implode())
    paid = pl.concat(
        [
            paid.filter("known").with_columns(key=ours),
            rest.with_columns(
                key=pl.when(theirs_known).then(theirs).otherwise(pl.coalesce(ours, theirs))
            ),
        ]
    ).with_columns(
        fee_expected=pl.col("fee_milli")
        if day.fee_ppm is None
        else expected_fee_milli(pl.col("amount_fen"), day.fee_ppm),
    )
    billed = _by_key(
        paid,
        actual_fen=("amount_fen", "sum"),
        fee_milli=("fee_milli", "sum"),
        fee_expected_milli=("fee_expected", "sum"),
        bill_at=("trade_at", "min"),
    )
    owed = (
        _owed(due, "serial", "expected_fen")
        .rename({"serial": "key"})
        .with_columns(serial=pl.col("key"))
    )
    return _classify(day, owed, billed, refund=False)


def _refunds(
    day: Day, refunds: pl.DataFrame, lines: pl.DataFrame, previous_lines: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    seen = _keys(previous_lines.filter(pl.col("kind") == "refund"), "refund_no")
    returned = lines.filter(pl.col("kind") == "refund").with_columns(
        key=pl.coalesce(pl.col("refund_no"), pl.col("gateway_refund_no"))
    )
    fresh = refunds.filter(~pl.col("billed_before").fill_null(False))
    listed = returned["key"].drop_nulls()
    due = _window(day, fresh, "refunded_at", "refund_no", seen, listed).rename(
        {"refunded_at": "at"}
    )
    billed = _by_key(
        returned,
        actual_fen=("refund_fen", "sum"),
        fee_milli=("fee_milli", "sum"),
        fee_expected_milli=("fee_milli", "sum"),  # refunds' fees are not checked
        bill_at=("trade_at", "min"),
        bill_serial=("merchant_order_no", "first"),
    )
    owed = _owed(due, "refund_no", "amount_fen").rename({"refund_no": "key"})
    return _classify(day, owed, billed, refund=True)


def _classify(
    day: Day, owed: pl.DataFrame, billed: pl.DataFrame, *, refund: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Owed (the orders') against billed (the bill's), full outer on the key."""
    both = owed.join(billed, on="key", how="full", coalesce=True)
    if "bill_serial" in both.columns:
        both = both.with_columns(serial=pl.coalesce("serial", "bill_serial"))
    ordered, in_bill = pl.col("order_id").is_not_null(), pl.col("lines").is_not_null()
    near_midnight = pl.col("at") >= day.end - day.carry
    both = both.with_columns(
        pl.col("lines", "actual_fen", "fee_milli", "fee_expected_milli", "expected_fen").fill_null(
            0
        ),
        pl.col("carried").fill_null(False),
        stage=pl.col("stage").fill_null("refund" if refund else "full"),
        at=pl.coalesce("at", "bill_at"),
        ordered=ordered,
        in_bill=in_bill,
        pending=ordered & ~in_bill & near_midnight & ~pl.col("carried").fill_null(False),
    )
    final_settled = (pl.col("stage") == "final") & pl.col("deposit_seen").fill_null(False)
    if not refund:  # money no order claims: its serial is the bill's key
        both = both.with_columns(serial=pl.coalesce("serial", "key"))
    rows = both.with_columns(
        key=pl.lit("refund:") + pl.col("key") if refund else pl.col("key"),
        refund_fen=pl.col("actual_fen") if refund else pl.lit(0, pl.Int64),
        status=pl.when(pl.col("pending"))
        .then(pl.lit("pending"))
        .when(final_settled)
        .then(pl.lit("settled"))
        .otherwise(pl.lit("matched")),
    )
    classes = (
        (Difference.REFUND_MISSING, Difference.REFUND_UNRECORDED, Difference.REFUND_AMOUNT)
        if refund
        else (Difference.MISSING, Difference.UNRECORDED, Difference.AMOUNT)
    )
    missing, unrecorded, amount = classes
    matched = pl.col("ordered") & pl.col("in_bill")
    rules = [
        (missing, pl.col("ordered") & ~pl.col("in_bill") & ~pl.col("pending")),
        (unrecorded, ~pl.col("ordered") & pl.col("in_bill")),
        (Difference.DUPLICATE, pl.col("in_bill") & (pl.col("lines") > 1)),
        (
            amount,
            matched & (pl.col("lines") == 1) & (pl.col("actual_fen") != pl.col("expected_fen")),
        ),
    ]
    if not refund and day.fee_ppm is not None:
        off = (pl.col("fee_milli") - pl.col("fee_expected_milli")).abs()
        rules.append((Difference.FEE, pl.col("in_bill") & (off > day.fee_tolerance_milli)))
    suspects = rows.filter(pl.any_horizontal(*(when for _, when in rules)))  # few
    differences = pl.concat(
        [suspects.filter(when).with_columns(cls=pl.lit(cls.value)) for cls, when in rules],
        how="vertical",
    )
    return rows, differences


def _balance(deposits_due: pl.DataFrame) -> pl.DataFrame:
    """Presale deposits whose balance window closed with no balance paid."""
    return deposits_due.filter(~pl.col("final_paid")).select(
        cls=pl.lit(Difference.BALANCE_UNPAID.value),
        key=pl.lit("balance:") + pl.col("serial"),
        stage=pl.lit("final"),
        order_id="order_id",
        order_no="order_no",
        shop="shop",
        channel="channel",
        serial="serial",
        expected_fen="expected_fen",
        actual_fen=pl.lit(0, pl.Int64),
        fee_milli=pl.lit(0, pl.Int64),
        fee_expected_milli=pl.lit(0, pl.Int64),
        lines=pl.lit(0, pl.Int64),
        at="paid_at",
        carried=pl.lit(False),
    )


def _at_stake() -> pl.Expr:
    """The money a difference is about, in fen: what is missing or extra, the gap, or the fee
    charged beyond the contract (rounded half away from zero)."""
    cls, expected, actual = pl.col("cls"), pl.col("expected_fen"), pl.col("actual_fen")
    fee_gap = (pl.col("fee_milli") - pl.col("fee_expected_milli")).abs()
    return (
        pl.when(
            cls.is_in([Difference.MISSING, Difference.REFUND_MISSING, Difference.BALANCE_UNPAID])
        )
        .then(expected)
        .when(cls.is_in([Difference.UNRECORDED, Difference.REFUND_UNRECORDED]))
        .then(actual.abs())
        .when(cls == Difference.FEE)
        .then((fee_gap + 500) // 1000)
        .otherwise((actual - expected).abs())
    )
