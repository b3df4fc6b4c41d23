"""Reading the gateways' bills (rules.statements.parse_statement): real layouts in, the one line
shape out; every file that does not hold together is refused whole, saying where."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from rules.statements import LINE_SCHEMA, Statement, StatementRefused, parse_statement
from tests.statement_files import (
    MCH_ID,
    PID,
    UNIONPAY_MER_ID,
    UNIONPAY_NAME,
    AlipayLine,
    UnionpayLine,
    WechatLine,
    alipay_detail,
    alipay_zip,
    gzipped,
    unionpay_zm,
    wechat_fundflow,
    wechat_trade,
    zipped,
)

DAY = date(2024, 3, 1)
WECHAT_LINES = [
    WechatLine(
        "SH1001D", "99.00", "0.59400", time="2024-03-01 00:00:05",
        transaction_id="4200002024030100000001", attach="SH1001", sub_mch="1230000109",
    ),
    WechatLine("SH1001F", "201.00", "1.20600", time="2024-03-01 23:59:59",
               transaction_id="4200002024030100000002", coupon="5.00"),
    WechatLine("SH1001D", "99.00", "-0.06000", refund="10.00", refund_no="RF1",
               time="2024-03-01 12:00:00", transaction_id="4200002024030100000001"),
]  # fmt: skip


def rows(statement: Statement) -> list[dict[str, object]]:
    return statement.lines.to_dicts()


def refusal(data: bytes, name: str = "bill.csv", **options: str) -> str:
    with pytest.raises(StatementRefused) as refused:
        parse_statement(data, name, **options)
    return str(refused.value)


# --- WeChat Pay ----------------------------------------------------------------------------------


def test_a_wechat_all_bill_is_read_into_the_line_shape() -> None:
    statement = parse_statement(wechat_trade(WECHAT_LINES, bom=True), "tradebill_20240301.csv")

    assert (statement.gateway, statement.kind, statement.layout) == ("wechat", "trade", "ALL")
    assert (statement.bill_date, statement.merchant_id) == (DAY, MCH_ID)
    assert statement.lines.schema == LINE_SCHEMA
    first, second, refund = rows(statement)
    assert first == {
        "gateway": "wechat",
        "bill_date": DAY,
        "line_no": 2,
        "trade_at": datetime(2024, 2, 29, 16, 0, 5, tzinfo=UTC),  # Beijing 03-01 00:00:05
        "merchant_id": "1230000109",  # the sub-merchant (特约商户号) when there is one
        "merchant_order_no": "SH1001D",
        "gateway_trade_no": "4200002024030100000001",
        "kind": "payment",
        "status": "SUCCESS",
        "order_fen": 9900,
        "amount_fen": 9900,
        "coupon_fen": 0,
        "refund_fen": 0,
        "refund_no": None,
        "gateway_refund_no": None,
        "fee_milli": 59400,
        "fee_fen": 59,
        "attach": "SH1001",
    }
    assert (second["merchant_id"], second["coupon_fen"], second["fee_fen"]) == (MCH_ID, 500, 121)
    assert {k: refund[k] for k in ("line_no", "kind", "amount_fen", "refund_fen", "order_fen")} == {
        "line_no": 4, "kind": "refund", "amount_fen": -1000, "refund_fen": 1000, "order_fen": 0,
    }  # fmt: skip
    assert (refund["refund_no"], refund["gateway_refund_no"]) == (
        "RF1",
        "50300000012024030100000001",
    )
    assert (refund["fee_milli"], refund["fee_fen"]) == (-6000, -6)


def test_a_wechat_bill_without_a_date_in_its_name_is_the_day_most_lines_fall_on() -> None:
    statement = parse_statement(wechat_trade(WECHAT_LINES), "downloaded.csv")

    assert statement.bill_date == DAY  # Beijing days, though the first line is 02-29 in UTC


def test_a_gzipped_wechat_bill_is_the_same_bill() -> None:
    plain = parse_statement(wechat_trade(WECHAT_LINES), "tradebill_20240301.csv")
    packed = parse_statement(gzipped(wechat_trade(WECHAT_LINES)), "tradebill_20240301.csv.gz")

    assert packed.lines.equals(plain.lines)
    assert packed.digest == plain.digest


def test_an_old_format_wechat_bill_reads_its_own_column_names() -> None:
    statement = parse_statement(wechat_trade(WECHAT_LINES, old=True), "tradebill_20240301.csv")

    assert statement.layout == "ALL, 2018 年前的旧版"
    payment, _, refund = rows(statement)
    assert (payment["amount_fen"], payment["order_fen"], payment["fee_milli"]) == (
        9900,
        9900,
        59400,
    )
    assert payment["merchant_id"] == "1230000109"  # 子商户号
    assert (refund["kind"], refund["refund_fen"]) == ("refund", 1000)


@pytest.mark.parametrize(
    ("fee", "milli", "fen"),
    [
        ("0.05940", 5940, 6),
        ("0.00500", 500, 1),
        ("0.00499", 499, 0),
        ("-0.00500", -500, -1),
        ("-0.00499", -499, 0),
        ("1.2", 120000, 120),
    ],
)
def test_fees_keep_five_decimals_and_round_to_fen_half_away_from_zero(
    fee: str, milli: int, fen: int
) -> None:
    statement = parse_statement(wechat_trade([WechatLine("A1", "9.90", fee)]), "b_20240301.csv")

    assert rows(statement)[0]["fee_milli"] == milli
    assert rows(statement)[0]["fee_fen"] == fen


def test_times_from_beijings_summer_time_years_keep_their_offset() -> None:
    data = wechat_trade([
        WechatLine("A1", "9.90", "0.05940", time="1988-06-01 12:00:00"),  # UTC+9 that summer
        WechatLine("A2", "9.90", "0.05940", time="1988-12-01 12:00:00"),
        WechatLine("A3", "9.90", "0.05940", time="2024-06-01 12:00:00"),  # UTC+8 since 1991
    ])  # fmt: skip

    moments = [r["trade_at"] for r in rows(parse_statement(data, "downloaded.csv"))]

    assert moments == [
        datetime(1988, 6, 1, 3, tzinfo=UTC),
        datetime(1988, 12, 1, 4, tzinfo=UTC),
        datetime(2024, 6, 1, 4, tzinfo=UTC),
    ]


def test_a_time_that_came_twice_as_summer_time_ended_is_the_first() -> None:
    data = wechat_trade([WechatLine("A1", "9.90", "0.05940", time="1991-09-15 01:30:00")])

    moment = rows(parse_statement(data, "downloaded.csv"))[0]["trade_at"]

    assert moment == datetime(1991, 9, 14, 16, 30, tzinfo=UTC)  # still UTC+9


def test_a_wechat_fund_flow_bill_signs_money_from_the_merchants_side() -> None:
    data = wechat_fundflow([
        ("交易", "收入", "99.00", "SH1001D"),
        ("扣除交易手续费", "支出", "0.59", "SH1001D"),
        ("退款", "支出", "10.00", "RF1"),
        ("退还交易手续费", "收入", "0.06", "RF1"),
        ("提现", "支出", "50.00", ""),
    ])  # fmt: skip

    statement = parse_statement(data, "fundflow_20240301.csv")

    assert (statement.gateway, statement.kind) == ("wechat", "fundflow")
    assert [
        (r["kind"], r["amount_fen"], r["refund_fen"], r["fee_fen"]) for r in rows(statement)
    ] == [
        ("payment", 9900, 0, 0),
        ("fee", 0, 0, 59),
        ("refund", -1000, 1000, 0),
        ("fee_return", 0, 0, -6),
        ("other", -5000, 0, 0),
    ]


# --- Alipay --------------------------------------------------------------------------------------

ALIPAY_LINES = [
    AlipayLine("2024030122001458860515315453", "SH2001", "128.00", "0.77", discount="3.00"),
    AlipayLine("2024030122001458860515315454", "SH2002", "30.00", "0.18"),
    AlipayLine("2024030122001458860515315453", "SH2001", "28.00", "0.17", refund_no="RF2001"),
]


def test_an_alipay_zip_is_read_from_gbk_with_the_tabs_gone_and_refunds_negative() -> None:
    statement = parse_statement(alipay_zip(ALIPAY_LINES), f"{PID}_20240301.csv.zip")

    assert (statement.gateway, statement.kind, statement.bill_date) == ("alipay", "trade", DAY)
    assert statement.merchant_id == PID  # the account line's id without its 0156
    payment, _, refund = rows(statement)
    assert payment["gateway_trade_no"] == "2024030122001458860515315453"  # no tab
    assert payment["line_no"] == 6  # four # lines and the header before it
    assert payment["trade_at"] == datetime(2024, 3, 1, 2, 0, 1, tzinfo=UTC)
    assert (payment["kind"], payment["amount_fen"], payment["coupon_fen"]) == (
        "payment",
        12800,
        300,
    )
    assert (payment["fee_milli"], payment["fee_fen"]) == (77000, 77)  # 服务费 -0.77: charged
    assert (refund["kind"], refund["amount_fen"], refund["refund_fen"]) == ("refund", -2800, 2800)
    assert (refund["refund_no"], refund["fee_fen"]) == ("RF2001", -17)  # the fee given back


def test_an_alipay_detail_file_alone_is_read_too() -> None:
    statement = parse_statement(alipay_detail(ALIPAY_LINES), f"{PID}_20240301_业务明细.csv")

    assert statement.lines.height == 3


# --- UnionPay ------------------------------------------------------------------------------------

UNIONPAY_LINES = [
    UnionpayLine("SH3001", "512403011000000000001", 25800, 13, attach="店铺甲"),
    UnionpayLine("RF3001", "512403011200000000002", 5800, 3, txn_type="04", time="0301120000",
                 orig_query_id="512403011000000000001"),
]  # fmt: skip


def test_a_unionpay_zm_file_is_cut_by_its_byte_widths() -> None:
    statement = parse_statement(unionpay_zm(UNIONPAY_LINES), UNIONPAY_NAME)

    assert (statement.gateway, statement.bill_date, statement.merchant_id) == (
        "unionpay", DAY, UNIONPAY_MER_ID,
    )  # fmt: skip
    payment, refund = rows(statement)
    assert payment["merchant_order_no"] == "SH3001"
    assert payment["trade_at"] == datetime(2024, 3, 1, 2, 0, tzinfo=UTC)
    assert (payment["amount_fen"], payment["fee_milli"], payment["fee_fen"]) == (25800, 13000, 13)
    assert payment["attach"] == "店铺甲"  # GBK inside a fixed-width field
    assert (refund["kind"], refund["amount_fen"], refund["refund_fen"]) == ("refund", -5800, 5800)
    assert refund["gateway_trade_no"] == "512403011000000000001"  # the payment it returns
    assert (refund["refund_no"], refund["merchant_order_no"]) == ("RF3001", None)


def test_a_unionpay_line_from_december_in_a_january_file_is_last_year() -> None:
    data = unionpay_zm([UnionpayLine("SH1", "1", 100, 1, time="1231235959")])

    statement = parse_statement(data, "INN25010188ZM_777290058110097")

    assert rows(statement)[0]["trade_at"] == datetime(2024, 12, 31, 15, 59, 59, tzinfo=UTC)


def test_a_unionpay_zip_gives_its_zm_file_not_the_error_file() -> None:
    data = zipped(
        {f"{UNIONPAY_NAME}": unionpay_zm(UNIONPAY_LINES), "INN24030188ZME_x": b"junk"},
        gbk_names=False,
    )

    assert parse_statement(data, "24030188.zip").lines.height == 2


# --- refused whole -------------------------------------------------------------------------------


def test_a_wechat_bill_whose_lines_do_not_add_up_to_its_summary_is_refused() -> None:
    data = wechat_trade(WECHAT_LINES).replace(b"`3,`300.00,", b"`3,`300.01,")

    reason = refusal(data)

    assert "明细与汇总不符" in reason
    assert "汇总行 (第 6 行)「应结订单总金额」为 300.01 元, 明细合计 300.00 元" in reason


def test_a_wechat_bill_with_a_line_missing_is_refused_by_its_count() -> None:
    data = wechat_trade(WECHAT_LINES)
    cut = b"\r\n".join(line for line in data.split(b"\r\n") if b"SH1001F" not in line)

    assert "「总交易单数」为 3 笔, 明细合计 2 笔" in refusal(cut)


def test_a_wechat_bill_cut_short_is_refused() -> None:
    data = wechat_trade(WECHAT_LINES)

    assert "不完整" in refusal(data[: len(data) // 2])


def test_a_wechat_line_cut_short_is_refused_by_its_line() -> None:
    data = wechat_trade(WECHAT_LINES).replace(b",`0.60%,`0.00,`10.00,`\r\n", b",`0.60%\r\n")

    assert "第 4 行第 25 列「订单金额」没有 ` 前缀" in refusal(data)


def test_a_wechat_line_with_a_cell_too_many_is_refused_by_its_line() -> None:
    data = wechat_trade(WECHAT_LINES).replace("`商品，全角逗号".encode(), b"`a,b", 1)

    assert "第 2 行有 28 列, 应为 27 列" in refusal(data)


def test_a_wechat_line_cut_short_before_one_too_wide_is_named_by_its_width() -> None:
    data = (
        wechat_trade(WECHAT_LINES)
        .replace(b",`0.60%,`99.00,`0.00,`\r\n", b",`0.60%,`99.00,`0.00\r\n", 1)
        .replace(b"`SH1001F,", b"`SH1001F,`x,")
    )  # as many commas in all as the right widths: one line short, the next one wide

    assert "第 2 行有 26 列, 应为 27 列" in refusal(data)


def test_a_wechat_bill_with_lines_after_its_summary_is_refused() -> None:
    reason = refusal(wechat_trade(WECHAT_LINES) + b"`1,`2\r\n")

    assert "不完整或有多余内容: 汇总行之后还有内容" in reason


def test_a_wechat_bill_without_its_summary_values_is_refused() -> None:
    data = b"\r\n".join(wechat_trade(WECHAT_LINES).split(b"\r\n")[:-2]) + b"\r\n"

    assert "不完整或有多余内容: 汇总表头之后没有汇总数值" in refusal(data)


def test_a_wechat_summary_with_a_value_too_many_is_refused() -> None:
    data = wechat_trade(WECHAT_LINES).replace(b"`3,`300.00,", b"`3,`300.00,`1,")

    assert "汇总行 (第 6 行) 有 8 个值, 应为 7 个" in refusal(data)


def test_a_wechat_summary_value_that_is_no_number_is_refused() -> None:
    data = wechat_trade(WECHAT_LINES).replace(b"`3,`300.00,", b"`3x,`300.00,")

    assert "汇总行 (第 6 行) 的「总交易单数」是 '3x', 读不出数值" in refusal(data)


def test_a_time_that_is_no_time_is_refused_by_its_line() -> None:
    data = wechat_trade(WECHAT_LINES).replace(b"`2024-03-01 12:00:00", b"`2024-03-01 12:00")

    assert "第 4 行的「交易时间」是 '2024-03-01 12:00', 不是时间" in refusal(data)


def test_amounts_in_full_width_digits_or_too_large_to_hold_are_refused_by_their_line() -> None:
    wide = wechat_trade(WECHAT_LINES).replace(b"`99.00,", "`９９.00,".encode(), 1)
    huge = wechat_trade(WECHAT_LINES).replace(b"`-0.06000", b"`-12345678901234.06000")

    assert "第 2 行的「应结订单金额」是 '９９.00', 不是金额" in refusal(wide)
    assert "第 4 行的「手续费」是 '-12345678901234.06000', 不是金额" in refusal(huge)


def test_a_blank_line_among_the_details_is_refused_by_its_line() -> None:
    data = wechat_trade(WECHAT_LINES).replace(b"\r\n", b"\r\n\r\n", 1)

    assert "第 2 行是空行" in refusal(data)


def test_a_bill_without_lines_or_a_date_in_its_name_is_refused() -> None:
    assert "没有明细, 文件名中也没有日期" in refusal(wechat_trade([]), "downloaded.csv")


def test_a_wechat_bill_saved_again_as_gbk_is_refused_for_its_encoding() -> None:
    data = wechat_trade(WECHAT_LINES).decode().encode("gbk")

    assert "GBK" in refusal(data) and "UTF-8" in refusal(data)


def test_a_wechat_line_that_is_not_utf8_is_refused_by_its_line() -> None:
    lines = wechat_trade(WECHAT_LINES).split(b"\r\n")
    lines[2] = lines[2].replace("商品，全角逗号".encode(), "商品".encode("gbk"))
    data = b"\r\n".join(lines)

    assert "第 3 行不是 UTF-8 编码" in refusal(data)


def test_an_amount_that_is_no_amount_is_refused_by_its_line() -> None:
    data = wechat_trade(WECHAT_LINES).replace(b"`201.00,", b"`2O1.00,")

    assert "第 3 行的「应结订单金额」是 '2O1.00', 不是金额" in refusal(data)


def test_a_wechat_success_bill_is_refused_for_holding_part_of_the_day() -> None:
    header = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型"
    reason = refusal(f"{header}\n`2024-03-01 10:00:00\n".encode())

    assert "bill_type=ALL" in reason


def test_an_alipay_zip_whose_lines_do_not_add_up_is_refused() -> None:
    detail = alipay_detail(ALIPAY_LINES).replace(
        "商家实收共158.00元".encode("gbk"), "商家实收共158.50元".encode("gbk")
    )
    data = zipped({f"{PID}_20240301_业务明细.csv": detail})

    reason = refusal(data, "a.zip")

    assert "交易合计 商家实收" in reason and "158.50 元" in reason and "158.00 元" in reason


def test_an_alipay_bill_without_its_totals_is_refused_as_cut_short() -> None:
    detail = alipay_detail(ALIPAY_LINES)
    cut = detail[
        : detail.index("#-----------------------------------------业务明细列表结束".encode("gbk"))
    ]

    assert "不完整" in refusal(cut, "a.csv")


def test_an_alipay_bill_saved_as_utf8_is_refused_for_its_encoding() -> None:
    data = alipay_detail(ALIPAY_LINES).decode("gbk").encode("utf-8")

    assert "应为 GBK 编码" in refusal(data, "a.csv")


def test_a_truncated_zip_is_refused() -> None:
    data = alipay_zip(ALIPAY_LINES)

    assert "不完整或损坏的 zip" in refusal(data[:-40], "a.zip")


def test_a_unionpay_line_cut_short_is_refused_by_its_line() -> None:
    data = unionpay_zm(UNIONPAY_LINES)

    assert "第 2 行长 " in refusal(data[:-300], UNIONPAY_NAME)


def test_a_file_that_is_not_the_gateway_asked_for_is_refused() -> None:
    reason = refusal(wechat_trade(WECHAT_LINES), gateway="alipay")

    assert "指定的是支付宝交易账单, 但文件内容是微信支付交易账单" in reason


def test_a_file_that_is_no_bill_is_refused_saying_what_its_first_line_is() -> None:
    reason = refusal(b"order_no,status\nSH1,paid\n", "orders.csv")

    assert "认不出 orders.csv 是哪种账单: 第 1 行是「order_no,status」" in reason


def test_a_unionpay_line_that_is_not_gbk_is_refused_by_its_line() -> None:
    data = unionpay_zm(UNIONPAY_LINES).replace("店铺甲".encode("gbk"), b"\xff\xff\xff\xff\xff\xff")

    assert "第 1 行不是 GBK 编码" in refusal(data, UNIONPAY_NAME)


def test_a_unionpay_file_without_its_settlement_day_in_the_name_is_refused() -> None:
    assert "请用银联下载时的原文件名导入" in refusal(unionpay_zm(UNIONPAY_LINES), "zm.txt")


def test_a_fund_flow_bill_whose_income_does_not_add_up_is_refused() -> None:
    data = wechat_fundflow([("交易", "收入", "99.00", "SH1"), ("提现", "支出", "50.00", "")])

    reason = refusal(data.replace(b"`1,`99.00,", b"`1,`98.00,"))

    assert "「收入金额」为 98.00 元, 明细合计 99.00 元" in reason
