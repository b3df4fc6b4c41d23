"""SMS providers (Tencent Cloud SMS, Alibaba Cloud SMS) behind one small protocol: send one
templated text to one number, and say in plain words what became of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal, Protocol

Verdict = Literal["sent", "retry", "refused"]
# Whom a "retry" concerns: this number (its frequency limits) or every text (the provider is
# down, our account's caps or credentials): the sender then pauses all texts.
Scope = Literal["number", "provider"]


@dataclass(frozen=True)
class OutgoingText:
    """One text as the provider takes it. ``reference`` is ours (SessionContext / OutId), echoed
    in the provider's answer and receipts."""

    phone: str
    template: str  # Tencent's TemplateId, Aliyun's TemplateCode
    purpose: str
    params: Mapping[str, str]
    reference: str


@dataclass(frozen=True)
class SendResult:
    """What the provider did with a text: ``sent`` (its ``serial``), ``retry`` after
    ``retry_after`` (``scope`` says for whom), or ``refused`` for good (``opt_out``: the
    number is on a blacklist, so we stop texting it). ``reason`` is in Chinese, with the
    provider's ``code``."""

    verdict: Verdict
    code: str
    reason: str
    serial: str | None = None
    retry_after: timedelta | None = None
    scope: Scope = "number"
    opt_out: bool = False


def sent(serial: str) -> SendResult:
    return SendResult("sent", "Ok", "已提交", serial=serial)


def retry(code: str, reason: str, after: timedelta, scope: Scope = "number") -> SendResult:
    return SendResult("retry", code, reason, retry_after=after, scope=scope)


def refused(code: str, reason: str, *, opt_out: bool = False) -> SendResult:
    return SendResult("refused", code, reason, opt_out=opt_out)


PROVIDER_DOWN_RETRY = timedelta(minutes=1)  # the sender's backoff grows from here


class SmsProvider(Protocol):
    """A provider's API: ``send`` never raises for what the provider or the network does; it
    answers with a :class:`SendResult`."""

    name: str

    async def send(self, text: OutgoingText) -> SendResult: ...

    async def close(self) -> None: ...


def split_endpoint(endpoint: str | None, default_host: str) -> tuple[str, str]:
    """(scheme, host[:port]) of [sms].endpoint: ``http://`` or ``https://`` as written; a bare
    host means HTTPS, except a loopback one (127.0.0.1, localhost: a local stand-in such as
    the sandbox), which means plain HTTP."""
    if not endpoint:
        return "https", default_host
    for scheme in ("http", "https"):
        prefix = f"{scheme}://"
        if endpoint.startswith(prefix):
            return scheme, endpoint[len(prefix) :].rstrip("/")
    host = endpoint.rstrip("/")
    loopback = host.rsplit(":", 1)[0] in ("127.0.0.1", "localhost")
    return ("http" if loopback else "https"), host


@dataclass(frozen=True)
class Receipt:
    """A carrier's delivery report as the provider forwards it: the text by the provider's
    ``serial`` (and our ``reference`` when the provider echoes it), delivered or not, the
    carrier's ``code`` (DELIVRD, …) and words, when (aware, UTC)."""

    serial: str
    delivered: bool
    code: str
    description: str
    at: datetime | None
    reference: str | None = None


class BadReceipts(ValueError):
    """A receipts body that is not what the provider sends; the message says what (Chinese)."""


BEIJING = timezone(timedelta(hours=8))


def beijing_time(value: object) -> datetime | None:
    """``2026-03-02 10:00:05`` (the providers' receipts, Beijing time) as UTC; None if absent
    or unreadable (the receipt still counts)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError:
        return None


def receipt_items(payload: object) -> list[dict[str, object]]:
    """The objects of a receipts body (a JSON array of objects)."""
    if not isinstance(payload, list) or not payload:
        raise BadReceipts("回执应为非空 JSON 数组")
    if not all(isinstance(item, dict) for item in payload):
        raise BadReceipts("回执数组的每一项都应为 JSON 对象")
    return payload


def text_field(item: dict[str, object], name: str, index: int) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadReceipts(f"第{index + 1}条回执缺少字段 {name}")
    return value.strip()
