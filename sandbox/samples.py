"""Realistic native order records per channel, for the demo, the tests and the benchmarks.

:func:`sample_record` renders one order in its channel's own format, shaped as the platform's
API returns it (docs/channels.md): Taobao yuan strings, Beijing times and TOP's wrapped lists
(``"orders": {"order": [...]}``), JD camelCase with JSON-text ``itemExt``, Douyin fen and Unix
seconds; the shop's ISO 8601 +08:00. The history is consistent, so that the channel's adapter
reports the requested stage entered ``stage_age`` before ``now`` (to the second).

The platforms' own spellings and privacy come along: Tmall and JD name provinces short (上海, 广东),
Douyin gives a municipality the city 市辖区; receiver names are masked, and so are the platforms'
phones (Taobao ``138********``, JD ``138*******8``, Douyin ``*******5678``), each with the handle
its decryption API takes; only the shop sends a full mobile. Paid orders carry their payment
serials, shipped ones their waybills, Douyin orders their ship-by; some buyers leave a message,
and a third of the orders on hold wait on a buyer's refund request. About one order in ten is a
presale (not on JD, whose presale format is undocumented), and about a third of the shop's orders
carry only a free-text address. Everything random comes from the ``rng`` passed in.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import orjson

from channels.timeparse import BEIJING, BEIJING_FORMAT
from rules.stages import Stage

# Which stages each channel's native statuses can express.
CHANNEL_STAGES: dict[str, tuple[Stage, ...]] = {
    "taobao": (
        Stage.PENDING_PAYMENT,
        Stage.DEPOSIT_PAID,
        Stage.PAID,
        Stage.ON_HOLD,
        Stage.SHIPPED,
        Stage.DELIVERED,
        Stage.COMPLETED,
        Stage.CANCELLED,
        Stage.REFUNDED,
    ),
    "jd": (
        Stage.PAID,
        Stage.ON_HOLD,
        Stage.SHIPPED,
        Stage.DELIVERED,
        Stage.COMPLETED,
        Stage.CANCELLED,
    ),
    "douyin": (
        Stage.PENDING_PAYMENT,
        Stage.DEPOSIT_PAID,
        Stage.PAID,
        Stage.ON_HOLD,  # an open after-sale on a paid order
        Stage.SHIPPED,
        Stage.COMPLETED,
        Stage.CANCELLED,
        Stage.REFUNDED,
    ),
    "shop": tuple(Stage),
}


@dataclass(frozen=True, slots=True)
class Category:
    """A product category; the numeric ids are illustrative, not the platforms' real ones."""

    name: str
    taobao_cid: int
    jd_cid: int
    douyin_first_cid: int
    titles: tuple[str, ...]
    yuan: tuple[int, int]  # price range


CATEGORIES = (
    Category(
        "家具",
        50008164,
        9847,
        20117,
        ("北欧实木餐桌", "布艺三人沙发", "胡桃木床头柜"),
        (399, 6999),
    ),
    Category(
        "服饰", 16, 1315, 20005, ("纯棉短袖T恤", "双面羊绒大衣", "高腰直筒牛仔裤"), (59, 1299)
    ),
    Category(
        "数码",
        50008090,
        652,
        20012,
        ("降噪蓝牙耳机", "三模机械键盘", "20000mAh移动电源"),
        (99, 2999),
    ),
    Category(
        "食品", 50002766, 1320, 20020, ("每日坚果礼盒", "五常稻花香大米10kg", "手工挂面"), (19, 299)
    ),
    Category(
        "定制家具",
        50020611,
        13765,
        20118,
        ("全屋定制衣柜", "定制整体橱柜", "榻榻米地台床"),
        (2999, 29999),
    ),
)

# (province, city, district, adcodes) as GB/T 2260 names them; 济源 sits directly under its
# province (no prefecture), 东莞 has no county level.
_REGIONS = (
    ("广东省", "深圳市", "南山区", ("440000", "440300", "440305")),
    ("广东省", "东莞市", None, ("440000", "441900", None)),
    ("上海市", "上海市", "浦东新区", ("310000", "310100", "310115")),
    ("北京市", "北京市", "朝阳区", ("110000", "110100", "110105")),
    ("重庆市", "重庆市", "渝中区", ("500000", "500100", "500103")),
    ("浙江省", "杭州市", "西湖区", ("330000", "330100", "330106")),
    ("江苏省", "南京市", "鼓楼区", ("320000", "320100", "320106")),
    ("山东省", "济南市", "历下区", ("370000", "370100", "370102")),
    ("河南省", "济源市", "济源市", ("410000", "419001", "419001")),
    ("湖北省", "武汉市", "洪山区", ("420000", "420100", "420111")),
    ("湖南省", "长沙市", "岳麓区", ("430000", "430100", "430104")),
    ("福建省", "厦门市", "思明区", ("350000", "350200", "350203")),
    ("四川省", "成都市", "武侯区", ("510000", "510100", "510107")),
    ("陕西省", "西安市", "雁塔区", ("610000", "610100", "610113")),
    ("广西壮族自治区", "南宁市", "青秀区", ("450000", "450100", "450103")),
    ("黑龙江省", "哈尔滨市", "南岗区", ("230000", "230100", "230103")),
)
_MUNICIPALITIES = frozenset({"北京市", "上海市", "天津市", "重庆市"})
_BUYER_MESSAGES = ("请尽快发货, 谢谢", "麻烦发顺丰", "周末送货", "包装结实一点, 是送人的")
_CARRIERS = (
    ("中通快递", "zhongtong", "ZTO"),
    ("圆通速递", "yuantong", "YT"),
    ("顺丰速运", "shunfeng", "SF"),
)
_MESSAGE_SHARE = 0.2
_REFUND_HOLD_SHARE = 0.33
_SHIP_WITHIN = timedelta(hours=48)  # Douyin's ordinary promise: shipped within 48 h of payment
_ROADS = ("人民路", "解放路", "中山路", "建设路", "文化路", "长江路", "和平路", "科技园路")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_MOBILE_PREFIXES = ("138", "139", "136", "150", "152", "158", "177", "186", "188", "189", "199")
_SHOPS = {
    "taobao": ("木森家居旗舰店", "暖阳服饰专营店"),
    "jd": ("10128374", "10093211"),  # JD sends only the venderId
    "douyin": ("木森家居官方旗舰店", "暖阳服饰抖音小店"),
    "shop": ("木森家居官网商城",),
}

# Each stage's history along the happy path; the last event is when the stage was entered.
_PATHS: dict[Stage, tuple[str, ...]] = {
    Stage.PENDING_PAYMENT: ("created",),
    Stage.DEPOSIT_PAID: ("created", "deposit_paid"),
    Stage.PAID: ("created", "paid"),
    Stage.ON_HOLD: ("created", "paid", "held"),
    Stage.PICKING: ("created", "paid", "picking"),
    Stage.SHIPPED: ("created", "paid", "shipped"),
    Stage.DELIVERED: ("created", "paid", "shipped", "delivered"),
    Stage.COMPLETED: ("created", "paid", "shipped", "delivered", "completed"),
    Stage.CANCELLED: ("created", "closed"),
    Stage.REFUNDED: ("created", "paid", "closed"),
}
# Minutes between an event and the one before it.
_GAP_MINUTES = {
    "deposit_paid": (1, 180),
    "paid": (1, 120),
    "held": (10, 1440),
    "picking": (10, 600),
    "shipped": (120, 4320),
    "delivered": (1440, 5760),
    "completed": (1440, 14400),
    "closed": (10, 4320),
}
_BALANCE_GAP_MINUTES = (1440, 28800)  # deposit → balance: the balance window opens days later
_PRESALE_STAGES = frozenset(
    {Stage.PENDING_PAYMENT, Stage.DEPOSIT_PAID, Stage.PAID, Stage.SHIPPED, Stage.COMPLETED}
)
_PRESALE_SHARE = 0.1
_FREE_TEXT_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class _Order:
    """What a sample order is, before it is rendered in a channel's format."""

    order_no: str
    stage: Stage
    presale: bool
    times: dict[str, datetime]  # event → when, for the events that happened
    entered: datetime
    category: Category
    title: str
    goods_fen: int
    post_fen: int
    discount_fen: int
    region: tuple[str, str, str | None, tuple[str, str, str | None]]
    street: str
    receiver: str
    mobile: str
    message: str | None  # the buyer's
    refund_hold: bool  # on hold for a buyer's refund request (else the platform's own hold)
    carrier: tuple[str, str, str]  # name, Douyin's code, the tracking number's prefix
    tracking_no: str

    @property
    def amount_fen(self) -> int:
        return self.goods_fen + self.post_fen - self.discount_fen

    @property
    def deposit_fen(self) -> int:
        return self.amount_fen // 500 * 100  # a fifth, in whole yuan

    @property
    def full_address(self) -> str:
        province, city, district, _ = self.region
        parts = [province, city, district, self.street]
        return "".join(dict.fromkeys(p for p in parts if p))  # 上海市上海市 → 上海市

    @property
    def short_province(self) -> str:
        """How Tmall and JD name the province: 上海, 广东, 广西 (not 广西壮族自治区)."""
        province = self.region[0]
        for suffix in ("壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "省", "市"):
            if province.endswith(suffix):
                return province.removesuffix(suffix)
        return province


def sample_record(
    channel: str,
    rng: random.Random,
    now: datetime,
    *,
    order_no: str,
    stage: Stage,
    stage_age: timedelta,
) -> dict[str, Any]:
    """A native ``channel`` record whose adapter reports ``stage`` entered at ``now - stage_age``.

    ``order_no`` becomes the channel's order id as given (use digits for Taobao/JD/Douyin, and at
    most 32 of ``[A-Za-z0-9_-]`` for the shop). Raises ValueError for an unknown channel, a stage
    the channel cannot express (see :data:`CHANNEL_STAGES`) or a naive ``now``.
    """
    if stage not in CHANNEL_STAGES.get(channel, ()):
        raise ValueError(f"channel {channel!r} has no native status for {stage}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return _RENDERERS[channel](rng, _draft(rng, now, order_no, stage, stage_age, channel))


def _draft(
    rng: random.Random, now: datetime, order_no: str, stage: Stage, age: timedelta, channel: str
) -> _Order:
    presale = channel != "jd" and (
        stage is Stage.DEPOSIT_PAID or (stage in _PRESALE_STAGES and rng.random() < _PRESALE_SHARE)
    )
    entered = (now - age).replace(microsecond=0)
    category = rng.choice(CATEGORIES)
    goods_fen = rng.randint(category.yuan[0], category.yuan[1]) * 100 + rng.choice((0, 0, 90, 99))
    carrier = rng.choice(_CARRIERS)
    return _Order(
        order_no=order_no,
        stage=stage,
        presale=presale,
        times=_history(rng, stage, entered, presale),
        entered=entered,
        category=category,
        title=rng.choice(category.titles),
        goods_fen=goods_fen,
        post_fen=rng.choice((0, 0, 0, 1000, 1200)),
        discount_fen=min(rng.choice((0, 0, 500, 1000, 2000, 5000)), goods_fen // 2),
        region=rng.choice(_REGIONS),
        street=f"{rng.choice(_ROADS)}{rng.randint(1, 999)}号{rng.randint(1, 30)}栋"
        f"{rng.randint(1, 4)}单元{rng.randint(1, 32)}{rng.randint(1, 4):02d}室",
        receiver=f"{rng.choice(_SURNAMES)}**",
        mobile=rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}",
        message=rng.choice(_BUYER_MESSAGES) if rng.random() < _MESSAGE_SHARE else None,
        # Douyin holds an order only for an after-sale; the others mostly for their own reasons.
        refund_hold=channel == "douyin" or rng.random() < _REFUND_HOLD_SHARE,
        carrier=carrier,
        tracking_no=f"{carrier[2]}{rng.randrange(10**12, 10**13)}",
    )


def _history(
    rng: random.Random, stage: Stage, entered: datetime, presale: bool
) -> dict[str, datetime]:
    path = list(_PATHS[stage])
    if presale and "paid" in path:
        path.insert(1, "deposit_paid")
    times = {path[-1]: entered}
    for earlier, later in reversed(list(pairwise(path))):
        low, high = (
            _BALANCE_GAP_MINUTES
            if (earlier, later) == ("deposit_paid", "paid")
            else _GAP_MINUTES[later]
        )
        gap = timedelta(minutes=rng.randint(low, high), seconds=rng.randint(0, 59))
        times[earlier] = times[later] - gap
    return times


def _yuan(fen: int) -> str:
    return str(Decimal(fen).scaleb(-2))


def _beijing(at: datetime | None) -> str | None:
    return at.astimezone(BEIJING).strftime(BEIJING_FORMAT) if at else None


def _first_paid(order: _Order) -> datetime | None:
    """When the buyer first paid anything: the deposit of a presale, else the full payment."""
    return order.times.get("deposit_paid") or order.times.get("paid")


def _alipay_no(rng: random.Random, at: datetime) -> str:
    """An Alipay trade number: the payment's date, then 20 digits (28 in all)."""
    return f"{at.astimezone(BEIJING):%Y%m%d}22{rng.randrange(10**17, 10**18)}"


def _wechat_no(rng: random.Random, at: datetime) -> str:
    """A WeChat Pay transaction_id: 4200, then digits with the payment's date (28 in all)."""
    day = f"{at.astimezone(BEIJING):%Y%m%d}"
    return f"4200{rng.randrange(10**5, 10**6)}{day}{rng.randrange(10**10):010d}"


def _hex(rng: random.Random, length: int) -> str:
    return f"{rng.getrandbits(4 * length):0{length}x}"


_TAOBAO_STATUS = {
    Stage.PENDING_PAYMENT: "WAIT_BUYER_PAY",
    Stage.DEPOSIT_PAID: "WAIT_BUYER_PAY",  # Taobao keeps it until the balance is paid
    Stage.PAID: "WAIT_SELLER_SEND_GOODS",
    Stage.ON_HOLD: "PAID_FORBID_CONSIGN",
    Stage.SHIPPED: "WAIT_BUYER_CONFIRM_GOODS",
    Stage.DELIVERED: "TRADE_BUYER_SIGNED",  # cash on delivery only
    Stage.COMPLETED: "TRADE_FINISHED",
    Stage.CANCELLED: "TRADE_CLOSED_BY_TAOBAO",
    Stage.REFUNDED: "TRADE_CLOSED",
}


def _taobao(rng: random.Random, order: _Order) -> dict[str, Any]:
    t = order.times
    cod = order.stage is Stage.DELIVERED
    refunding = order.stage is Stage.ON_HOLD and order.refund_hold
    status = "WAIT_SELLER_SEND_GOODS" if refunding else _TAOBAO_STATUS[order.stage]
    province, city, district, _ = order.region
    paid = _first_paid(order)
    shipped = t.get("shipped")
    shop = rng.choice(_SHOPS["taobao"])
    sub_order: dict[str, Any] = {
        "oid": rng.randrange(10**18, 10**19),
        "num_iid": rng.randrange(10**11, 10**12),
        "sku_id": str(rng.randrange(10**12, 10**13)),
        "title": order.title,
        "num": 1,
        "price": _yuan(order.goods_fen),
        "payment": _yuan(order.amount_fen),
        "cid": order.category.taobao_cid,
        "status": status,
        "refund_status": "WAIT_SELLER_AGREE" if refunding else "NO_REFUND",
    }
    if shipped:
        sub_order |= {
            "consign_time": _beijing(shipped),
            "logistics_company": order.carrier[0],
            "invoice_no": order.tracking_no,
        }
    record: dict[str, Any] = {
        "tid_str": order.order_no,
        "type": "step" if order.presale else ("cod" if cod else "fixed"),
        "status": status,
        "created": _beijing(t["created"]),
        "modified": _beijing(order.entered),
        "pay_time": None if cod else _beijing(paid),
        "consign_time": _beijing(shipped),
        "end_time": _beijing(t.get("completed") or t.get("closed")),
        "payment": _yuan(order.amount_fen),
        "total_fee": _yuan(order.goods_fen),
        "post_fee": _yuan(order.post_fen),
        "discount_fee": _yuan(order.discount_fen),
        "seller_nick": shop,
        "title": shop,
        "alipay_no": _alipay_no(rng, paid) if paid and not cod else None,
        "buyer_message": order.message,
        "receiver_name": order.receiver,
        # Masked since OAID: the number is had through TOP's decryption, by oaid.
        "receiver_mobile": f"{order.mobile[:3]}********",
        "oaid": _hex(rng, 32),
        # Tmall names a municipality short (上海) and its city in full (上海市).
        "receiver_state": order.short_province if province in _MUNICIPALITIES else province,
        "receiver_city": "" if city == district else city,  # 省直辖县级: city left empty
        "receiver_district": district or "",
        "receiver_address": order.street,
        "orders": {"order": [sub_order]},
    }
    if order.order_no.isdigit():
        record["tid"] = int(order.order_no)
    if order.presale:
        record.update(_taobao_steps(rng, order))
    if order.stage is Stage.SHIPPED and rng.random() < 0.1:
        record["status"] = "SELLER_CONSIGNED_PART"
    return {k: v for k, v in record.items() if v is not None}


def _taobao_steps(rng: random.Random, order: _Order) -> dict[str, Any]:
    deposit, balance = order.times.get("deposit_paid"), order.times.get("paid")
    steps = [(1, order.deposit_fen, deposit), (2, order.amount_fen - order.deposit_fen, balance)]
    promised = (balance or deposit or order.times["created"]) + timedelta(days=15)
    return {
        "step_trade_status": (
            "FRONT_PAID_FINAL_PAID"
            if balance
            else "FRONT_PAID_FINAL_NOPAID"
            if deposit
            else "FRONT_NOPAID_FINAL_NOPAID"
        ),
        "step_paid_fee": _yuan(sum(fen for _, fen, paid in steps if paid)),
        "step_pay_details": {
            "step_pay_detail": [
                {
                    "step_no": no,
                    "step_actual_pay_fee": _yuan(fen),
                    "pay_status": 2 if paid else 1,
                    "step_channel_no": _alipay_no(rng, paid) if paid else "",
                }
                for no, fen, paid in steps
            ]
        },
        "send_time": _beijing(promised),  # a presale's promised shipping
    }


_JD_NOT_YET = "0001-01-01 00:00:00"
_JD_STATUS = {
    Stage.PAID: ("WAIT_SELLER_STOCK_OUT", "等待出库"),
    Stage.ON_HOLD: ("LOCKED", "已锁定"),
    Stage.SHIPPED: ("WAIT_GOODS_RECEIVE_CONFIRM", "等待确认收货"),
    Stage.DELIVERED: ("RECEIPTS_CONFIRM", "收款确认"),
    Stage.COMPLETED: ("FINISHED_L", "完成"),
    Stage.CANCELLED: ("TRADE_CANCELED", "取消"),
}


def _jd(rng: random.Random, order: _Order) -> dict[str, Any]:
    t = order.times
    state, remark = _JD_STATUS[order.stage]
    _, city, district, (province_id, city_id, district_id) = order.region
    shipped = t.get("shipped")
    masked = f"{order.mobile[:3]}*******{order.mobile[-1]}"
    record = {
        "orderId": order.order_no,
        "venderId": rng.choice(_SHOPS["jd"]),
        "orderType": 22,
        "payType": 4,
        "orderTotalPrice": _yuan(order.goods_fen),
        "orderSellerPrice": _yuan(order.goods_fen - order.discount_fen),
        "orderPayment": _yuan(order.amount_fen),
        "freightPrice": _yuan(order.post_fen),
        "sellerDiscount": _yuan(order.discount_fen),
        "orderState": state,
        "orderStateRemark": remark,
        "orderRemark": order.message or "",
        "venderRemark": "",
        "orderStartTime": _beijing(t["created"]),
        "paymentConfirmTime": _beijing(t.get("paid")) or _JD_NOT_YET,
        "outBoundDate": _beijing(shipped) or _JD_NOT_YET,
        "orderEndTime": _beijing(t.get("completed") or t.get("closed")) or _JD_NOT_YET,
        "modified": _beijing(order.entered),
        "consigneeInfo": {
            "fullname": order.receiver,
            "mobile": masked,
            "telephone": masked,
            "desen_mobile": _hex(rng, 70),
            "fullAddress": order.full_address,
            # JD names the province short (广东) and the city in full (广州市).
            "province": order.short_province,
            "provinceId": province_id,
            "city": city,
            "cityId": city_id,
            "county": district or "",
            "countyId": district_id or "",
        },
        "itemInfoList": [
            {
                "skuId": str(rng.randrange(10**10, 10**11)),
                "skuName": order.title,
                "jdPrice": _yuan(order.goods_fen),
                "itemTotal": "1",
                "itemExt": orjson.dumps({"cid": str(order.category.jd_cid), "isVMI": 0}).decode(),
            }
        ],
    }
    if shipped:
        record |= {"waybill": order.tracking_no, "logisticsId": order.carrier[2]}
    return record


_DOUYIN_ORDER_STATUS_DESC = {1: "待支付", 2: "备货中", 3: "已发货", 4: "已取消", 5: "已完成"}
_DOUYIN_STATUS = {  # stage → (order_status, main_status, main_status_desc)
    Stage.PENDING_PAYMENT: (1, 1, "待支付"),
    Stage.DEPOSIT_PAID: (1, 103, "部分支付"),
    Stage.PAID: (2, 2, "备货中"),
    Stage.ON_HOLD: (2, 2, "备货中"),  # the after-sale is on the sku
    Stage.SHIPPED: (3, 3, "已发货"),
    Stage.COMPLETED: (5, 5, "已完成"),
    Stage.CANCELLED: (4, 4, "已取消"),
    Stage.REFUNDED: (4, 21, "发货前退款完结"),
}


def _douyin(rng: random.Random, order: _Order) -> dict[str, Any]:
    t = order.times
    order_status, main_status, main_desc = _DOUYIN_STATUS[order.stage]
    province, city, district, (province_id, city_id, district_id) = order.region
    unix = {event: int(at.timestamp()) for event, at in t.items()}
    first_paid = _first_paid(order)
    paid = t.get("paid")
    masked = f"*******{order.mobile[-4:]}"
    sku: dict[str, Any] = {
        "order_id": f"{order.order_no}1",
        "parent_order_id": order.order_no,
        "trade_type": 2 if order.presale else 0,
        "product_name": order.title,
        "sku_id": rng.randrange(10**12, 10**13),
        "item_num": 1,
        "pay_amount": order.amount_fen,
        "first_cid": order.category.douyin_first_cid,
    }
    if order.stage is Stage.ON_HOLD:  # the buyer asked for a refund before shipping
        sku["after_sale_info"] = {"after_sale_status": 6, "after_sale_type": 2, "refund_status": 1}
    record: dict[str, Any] = {
        "order_id": order.order_no,
        "order_level": 2,
        "shop_id": rng.randrange(10**7, 10**8),
        "shop_name": rng.choice(_SHOPS["douyin"]),
        "order_status": order_status,
        "order_status_desc": _DOUYIN_ORDER_STATUS_DESC[order_status],
        "main_status": main_status,
        "main_status_desc": main_desc,
        "order_amount": order.goods_fen + order.post_fen,
        "pay_amount": order.amount_fen,
        "post_amount": order.post_fen,
        "promotion_amount": order.discount_fen,
        "pay_type": 1,
        "create_time": unix["created"],
        "pay_time": int(first_paid.timestamp()) if first_paid else 0,
        "update_time": int(order.entered.timestamp()),
        "exp_ship_time": int((paid + _SHIP_WITHIN).timestamp()) if paid else 0,
        "ship_time": unix.get("shipped", 0),
        "finish_time": unix.get("completed", 0),
        "buyer_words": order.message or "",
        "seller_words": "",
        "post_receiver": order.receiver,
        # Masked since Douyin's encryption; the ciphertext goes to its decryption API.
        "post_tel": masked,
        "mask_post_tel": masked,
        "encrypt_post_tel": f"#{_hex(rng, 24)}#{_hex(rng, 48)}==*CgwIARCtHBiqICABKAESPgo8#1##",
        "doudian_open_id": _hex(rng, 40),
        "post_addr": {
            "province": {"id": province_id, "name": province},
            # Douyin gives a municipality the placeholder city 市辖区.
            "city": {"id": city_id, "name": "市辖区" if province in _MUNICIPALITIES else city},
            "town": {"id": district_id or "", "name": district or ""},
            "detail": order.street,
        },
        "sku_order_list": [sku],
    }
    if first_paid and not order.presale:
        record["channel_payment_no"] = _wechat_no(rng, first_paid)
    if "shipped" in t:
        record["logistics_info"] = [
            {
                "tracking_no": order.tracking_no,
                "company": order.carrier[1],
                "company_name": order.carrier[0],
                "ship_time": unix["shipped"],
            }
        ]
    if order.presale:
        phases = (
            (1, order.deposit_fen, "deposit_paid"),
            (2, order.amount_fen - order.deposit_fen, "paid"),
        )
        record["order_phase_list"] = [
            {
                "phase_order_id": f"{order.order_no}{phase}",
                "total_phase": 2,
                "current_phase": phase,
                "phase_payable_price": fen,
                "phase_pay_amount": fen if event in unix else 0,
                "phase_pay_time": unix.get(event, 0),
                "phase_pay_type": 1,
                "pay_success": event in unix,
                "channel_payment_no": _wechat_no(rng, t[event]) if event in t else "",
            }
            for phase, fen, event in phases
        ]
    return record


_SHOP_STATUS = {
    Stage.PENDING_PAYMENT: "PENDING_PAYMENT",
    Stage.DEPOSIT_PAID: "PARTIALLY_PAID",
    Stage.PAID: "PAID",
    Stage.ON_HOLD: "REFUNDING",
    Stage.PICKING: "PICKING",
    Stage.SHIPPED: "SHIPPED",
    Stage.DELIVERED: "DELIVERED",
    Stage.COMPLETED: "COMPLETED",
    Stage.CANCELLED: "CANCELLED",
    Stage.REFUNDED: "REFUNDED",
}
_PAY_CHANNELS = ("WECHAT_JSAPI", "WECHAT_NATIVE", "ALIPAY_PAGE", "ALIPAY_WAP", "UNIONPAY")


def _shop(rng: random.Random, order: _Order) -> dict[str, Any]:
    t = order.times
    province, city, district, _ = order.region
    receiver: dict[str, str | None]
    if rng.random() < _FREE_TEXT_SHARE:
        receiver = {"name": order.receiver, "mobile": order.mobile, "detail": order.full_address}
    else:
        receiver = {
            "name": order.receiver,
            "mobile": order.mobile,
            "province": province,
            "city": city,
            "district": district,
            "detail": order.street,
        }
    if order.presale:
        rows = [
            ("D", "DEPOSIT", order.deposit_fen, t.get("deposit_paid")),
            ("F", "FINAL", order.amount_fen - order.deposit_fen, t.get("paid")),
        ]
    else:
        rows = [("", "FULL", order.amount_fen, t.get("paid"))]
    record: dict[str, Any] = {
        "order_no": order.order_no,
        "status": _SHOP_STATUS[order.stage],
        "created_at": _iso(t["created"]),
        "paid_at": _iso(t.get("paid")),
        "shipped_at": _iso(t.get("shipped")),
        "updated_at": _iso(order.entered),
        "total_fen": order.amount_fen,
        "freight_fen": order.post_fen,
        "discount_fen": order.discount_fen,
        "paid_fen": sum(fen for _, _, fen, at in rows if at),
        "pay_channel": rng.choice(_PAY_CHANNELS),
        "shop_name": rng.choice(_SHOPS["shop"]),
        "category": order.category.name,
        "buyer_message": order.message,
        "receiver": receiver,
        "items": [
            {
                "title": order.title,
                "quantity": 1,
                "sku": f"SKU-{order.category.taobao_cid}-{rng.randrange(1000)}",
                "amount_fen": order.goods_fen,
                "category": order.category.name,
            }
        ],
        "payments": [
            {
                "out_trade_no": order.order_no + suffix,
                "stage": stage,
                "amount_fen": fen,
                "paid_at": _iso(at),
            }
            for suffix, stage, fen, at in rows
            if at
        ],
    }
    if "shipped" in t:
        parcel: dict[str, str | None] = {
            "tracking_no": order.tracking_no,
            "carrier": order.carrier[0],
        }
        record["waybills"] = [parcel | {"shipped_at": _iso(t["shipped"])}]
    return record


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(BEIJING).isoformat() if at else None


_RENDERERS: dict[str, Callable[[random.Random, _Order], dict[str, Any]]] = {
    "taobao": _taobao,
    "jd": _jd,
    "douyin": _douyin,
    "shop": _shop,
}
