"""Reading one native record field by field, noting every problem before refusing it.

Whoever fixes a rejected record wants to hear all that is wrong with it at once, not one field
per try. Each read returns the value, or None when the field is absent or wrong, and notes what
is wrong; :meth:`RecordReader.check` then refuses the record with every note. Values are held
to what the order pool can store (:mod:`channels.limits`): column lengths, 64-bit amounts, times
within bounds, and anywhere in the record no string PostgreSQL cannot hold (NUL, or a lone
surrogate, which a JSON body can spell ``\\ud800``).

Each read takes the usual case on a fast path, in the method itself: a value of the JSON type the
field expects, well formed and in bounds (a time string of the exact shape, an integer amount
in range). Anything else goes through the detailed parsers of :mod:`channels.timeparse`, which
accept the same values and word every refusal; a batch's fields cost a call each rather than
four or five (~40% of reading a record).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import orjson

from channels import limits, timeparse
from channels.base import RecordError
from rules.phones import canonical_phone, is_masked
from rules.stages import Stage

T = TypeVar("T")
Parser = Callable[[object, str], T | None]

_SURROGATE = re.compile("[\ud800-\udfff]")
_ASCII_YUAN = re.compile(r"[0-9]{1,16}(\.[0-9]{1,2})?")  # the fast path's yuan: fen fits 64 bits
_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 (naive: the origin of Beijing wall-clock times)
_LATEST_SECONDS = 200_000_000_000  # Unix seconds the fast path takes (year ~8300, well in range)
_from_iso = datetime.fromisoformat
_MOST_SHOWN = 5  # unstorable strings named per record; a record full of them needs no more


class RecordReader:
    """One record (or an object nested in it); nested readers share the record's notes."""

    __slots__ = ("_latest", "_now", "_prefix", "_problems", "_record", "record_json")

    def __init__(self, record: Mapping[str, Any], now: datetime) -> None:
        self._record = record
        self._now = now
        self._latest = now + limits.FUTURE_SLACK  # the latest time a field may hold
        self._prefix = ""
        # The record's JSON, made by the check for unstorable strings: the order's ``raw``
        # column is this same text (NormalizedOrder.raw_json), made once.
        self.record_json, self._problems = _serialised(record)

    def _nested(self, record: Mapping[str, Any], prefix: str) -> RecordReader:
        child = RecordReader.__new__(RecordReader)
        child._record, child._now, child._latest = record, self._now, self._latest
        child._prefix, child._problems = prefix, self._problems
        child.record_json = None
        return child

    def check(self) -> None:
        """Refuse the record with everything noted so far."""
        if self._problems:
            raise RecordError(*self._problems)

    def note(self, problem: str) -> None:
        self._problems.append(problem)

    def value(self, key: str) -> Any:
        """The field as sent, for flags compared as they are (``type == "step"``)."""
        return self._record.get(key)

    def required(self, value: T | None, key: str) -> T:
        """``value``, noting the field as missing when it is None and nothing else was noted
        about it (a value present but wrong has its own note).

        Typed as present: a record goes on being read after a missing field, so that all its
        problems are named at once, and ``check()`` refuses it before anything built from a
        None here leaves the adapter."""
        if value is None:
            field = self._prefix + key
            if not any(p.startswith(f"{field}: ") for p in self._problems):
                self.note(f"{field}: 缺少字段")
        return value  # type: ignore[return-value]  # no cast(): it is a call a field

    def _read(self, parse: Parser[T], key: str) -> T | None:
        """The field parsed, or None when it is absent or wrong (which is noted). Most fields of
        a record are absent, and absent is what every parser but :func:`timeparse.stage_of`
        makes of None, so those are answered here, without a call."""
        value = self._record.get(key)
        if value is None:
            return None
        try:
            return parse(value, self._prefix + key)
        except RecordError as error:
            self._problems.extend(error.problems)
            return None

    def _parse(self, parse: Parser[T], value: object, field: str) -> T | None:
        try:
            return parse(value, field)
        except RecordError as error:
            self._problems.extend(error.problems)
            return None

    def _string(
        self, key: str, limit: int | None, parse: Parser[str] = timeparse.text
    ) -> str | None:
        """A text field, stripped, None when blank; one over ``limit`` characters (None: no
        limit) is noted. A string is read here, without a call; what else was sent goes to
        ``parse``, which reads it or notes what is wrong with it."""
        value = self._record.get(key)
        if value.__class__ is str:
            value = value.strip() or None
        elif value is not None:
            value = self._read(parse, key)
        if value is None or limit is None or len(value) <= limit:
            return value
        return self._fits(value, key, limit)

    def _fits(self, value: str | None, key: str, limit: int) -> str | None:
        if value is not None and len(value) > limit:
            self.note(f"{self._prefix}{key}: 最长 {limit} 个字符, 收到 {len(value)} 个")
            return None
        return value

    # Free text up to ``limit`` characters (None: a column without one).
    text = _string

    def shown_text(self, key: str, limit: int) -> str | None:
        """Text only people read (a title, a buyer's message): one longer than its column is
        cut to fit, ending in "…", rather than cost the order; the record keeps it whole."""
        value = self._string(key, None)
        return None if value is None else timeparse.cut(value, limit)

    def ident(self, key: str, limit: int) -> str | None:
        sent = self._record.get(key)
        if sent.__class__ is int and sent >= 0:
            value = str(sent)
            return value if len(value) <= limit else self._fits(value, key, limit)
        return self._string(key, limit, timeparse.ident)

    def handle(self, key: str) -> str | None:
        """A platform's opaque handle (an encrypted phone, an open id), kept as sent."""
        return self._string(key, limits.HANDLE)

    def phones(self, *keys: str) -> tuple[str | None, str | None]:
        """(phone, masked phone): the first of ``keys`` holding a number, in its canonical form
        (rules.phones), which is what is stored and searched; else the first one the platform
        masked, as sent, which is shown but never searched."""
        masked = None
        for key in keys:
            sent = self._string(key, None)
            if sent is None:
                continue
            if is_masked(sent):
                masked = masked or self._fits(sent, key, limits.MASKED_PHONE)
            elif phone := self._fits(canonical_phone(sent), key, limits.PHONE):
                return phone, None
        return None, masked

    def count(self, key: str, default: int | None = None) -> int | None:
        """A non-negative integer (a quantity, a step number); ``default`` when absent."""
        sent = self._record.get(key)
        if sent.__class__ is int and 0 <= sent <= limits.MAX_QUANTITY:
            return sent
        count = self._read(timeparse.count, key)
        if count is not None and count > limits.MAX_QUANTITY:
            self.note(f"{self._prefix}{key}: 数量过大 ({count})")
            return None
        return default if count is None else count

    def _amount(self, fen: int | None, key: str) -> int | None:
        if fen is not None and fen > limits.MAX_FEN:
            self.note(f"{self._prefix}{key}: 金额过大 ({fen} 分)")
            return None
        return fen

    def yuan(self, key: str) -> int | None:
        """Yuan (string or number, at most 2 decimals) as fen."""
        sent = self._record.get(key)
        if sent.__class__ is str and _ASCII_YUAN.fullmatch(sent):
            whole, _, cents = sent.partition(".")
            return int(whole) * 100 + (int(cents) * (10 if len(cents) == 1 else 1) if cents else 0)
        return self._amount(self._read(timeparse.yuan_to_fen, key), key)

    def fen(self, key: str) -> int | None:
        sent = self._record.get(key)
        if sent.__class__ is int and 0 <= sent <= limits.MAX_FEN:
            return sent
        return self._amount(self._read(timeparse.fen, key), key)

    def _when(self, moment: datetime | None, key: str, deadline: bool = False) -> datetime | None:
        """``moment`` if it lies in bounds: a time that has happened at most a day ahead (clocks
        differ), a deadline at most :data:`limits.DEADLINE_AHEAD`."""
        latest = self._now + limits.DEADLINE_AHEAD if deadline else self._latest
        if moment is None or limits.EARLIEST <= moment <= latest:
            return moment
        sent = self._record.get(key)
        hint = timeparse.milliseconds_hint(sent) if isinstance(sent, int) else ""
        ahead = f"{limits.DEADLINE_AHEAD.days} 天" if deadline else "1 天"
        self.note(
            f"{self._prefix}{key}: 时间 {timeparse.shown(sent)} 不在可接受范围内"
            f" ({limits.EARLIEST:%Y-%m-%d} 之后、不晚于当前时间 {ahead}){hint}"
        )
        return None

    def _time(
        self,
        key: str,
        quick: Callable[[object], datetime | None],
        parse: Parser[datetime],
        deadline: bool = False,
    ) -> datetime | None:
        """A time field: absent, or what ``quick`` reads in bounds, else the detailed
        ``parse`` and the bounds with their notes."""
        sent = self._record.get(key)
        if sent is None:
            return None
        moment = quick(sent)
        latest = self._now + limits.DEADLINE_AHEAD if deadline else self._latest
        if moment is not None and limits.EARLIEST <= moment <= latest:
            return moment
        return self._when(self._parse(parse, sent, self._prefix + key), key, deadline)

    def beijing_time(self, key: str) -> datetime | None:
        return self._time(key, _beijing, timeparse.beijing_time)

    def jd_time(self, key: str) -> datetime | None:
        return self._time(key, _beijing, timeparse.jd_time)

    def unix_time(self, key: str) -> datetime | None:
        return self._time(key, _unix, timeparse.unix_time)

    def iso_time(self, key: str) -> datetime | None:
        return self._time(key, _iso, timeparse.iso_time)

    def beijing_deadline(self, key: str) -> datetime | None:
        """A Taobao deadline, a time or a whole day (timeparse.beijing_day_or_time)."""
        return self._time(key, _beijing, timeparse.beijing_day_or_time, deadline=True)

    def unix_deadline(self, key: str) -> datetime | None:
        return self._time(key, _unix, timeparse.unix_time, deadline=True)

    def iso_deadline(self, key: str) -> datetime | None:
        return self._time(key, _iso, timeparse.iso_time, deadline=True)

    def stage(self, table: Mapping[Any, Stage], key: str) -> Stage | None:
        """The stage a status stands for; a missing status is refused as such."""
        sent = self._record.get(key)
        if (sent.__class__ is str or sent.__class__ is int) and sent in table:
            return table[sent]
        return self._parse(partial(timeparse.stage_of, table), sent, self._prefix + key)

    def obj(self, key: str) -> RecordReader:
        """A nested object; absent (or wrong, which is noted) reads as empty."""
        found = self._record.get(key)
        if found.__class__ is not dict:
            found = self._read(timeparse.obj, key)
        return self._nested(found or {}, f"{self._prefix}{key}.")

    def objects(self, key: str, wrapped: str | None = None) -> list[RecordReader]:
        """A list of nested objects; absent (or wrong, which is noted) reads as empty.

        TOP's JSON wraps each list in an object of one key, the item's name
        (``"orders": {"order": [...]}``): name that key as ``wrapped`` and either shape is read."""
        value, field = self._record.get(key), self._prefix + key
        if wrapped is not None and isinstance(value, dict):
            if wrapped not in value:
                keys = timeparse.shown(list(value)[:3])
                self.note(f'{field}: 应为列表或 {{"{wrapped}": [...]}}, 收到键为 {keys} 的对象')
                return []
            value, field = value[wrapped], f"{field}.{wrapped}"
        if value is None:
            return []
        if value.__class__ is list and all(item.__class__ is dict for item in value):
            found = value
        else:
            found = self._parse(timeparse.objects, value, field) or []
        return [self._nested(item, f"{field}[{i}].") for i, item in enumerate(found)]

    def json_object(self, key: str) -> RecordReader:
        """An object the platform sends as JSON text (JD's ``itemExt``). Text that is not a JSON
        object reads as empty and is not noted: it is the platform's extension field, whose
        shape it may change, and the record keeps it as sent; so does text holding what the
        database cannot store (a NUL spelt ``\\u0000`` inside it)."""
        found = self._record.get(key)
        if isinstance(found, str):
            try:
                found = orjson.loads(found)
            except orjson.JSONDecodeError:
                found = None
        if not isinstance(found, dict) or unstorable_strings(found):
            found = {}
        return self._nested(found, f"{self._prefix}{key}.")


def _beijing(sent: object) -> datetime | None:
    """The fast path of :func:`timeparse.beijing_time`: ``yyyy-MM-dd HH:mm:ss`` exactly, else
    None (for the detailed parser to read or refuse)."""
    if sent.__class__ is not str or len(sent) != 19 or sent[10] != " ":
        return None
    try:
        local = _from_iso(sent)
        return None if local.tzinfo else timeparse.BEIJING_EPOCH + (local - _EPOCH)
    except (ValueError, OverflowError):
        return None


def _unix(sent: object) -> datetime | None:
    """The fast path of :func:`timeparse.unix_time`: positive integer seconds, else None."""
    if sent.__class__ is not int or not 0 < sent < _LATEST_SECONDS:
        return None
    return datetime.fromtimestamp(sent, UTC)


def _iso(sent: object) -> datetime | None:
    """The fast path of :func:`timeparse.iso_time`: ISO 8601 with an offset, else None."""
    if sent.__class__ is not str:
        return None
    try:
        moment = _from_iso(sent)
        return None if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def unstorable_strings(record: Any) -> list[str]:
    """A note for each string in ``record`` (keys too) that PostgreSQL cannot store: one with a
    NUL, or with a lone surrogate. The common case, neither, costs one C-level serialisation."""
    return _serialised(record)[1]


def _serialised(record: Any) -> tuple[bytes | None, list[str]]:
    """``record`` as orjson writes it when it holds no unstorable string (else None), and the
    notes of :func:`unstorable_strings`."""
    try:
        text = orjson.dumps(record)
        if b"\\u0000" not in text:
            return text, []
    except TypeError:  # a lone surrogate, or an integer past 64 bits (which is fine)
        pass
    return None, _unstorable_notes(record)


def _unstorable_notes(record: Any) -> list[str]:
    found: list[str] = []
    pending: list[tuple[str, Any]] = [("", record)]
    while pending:  # depth-first without recursion: the body's nesting is the sender's choice
        path, value = pending.pop()
        if isinstance(value, dict):
            for key, item in reversed(value.items()):
                problem = _unstorable(key) if isinstance(key, str) else None
                shown = ascii(key) if problem else str(key)  # the answer must be storable too
                name = f"{path}.{shown}" if path else shown
                if problem:
                    found.append(f"{name}: 字段名{problem}")
                pending.append((name, item))
        elif isinstance(value, list):
            pending.extend((f"{path}[{i}]", item) for i, item in reversed(list(enumerate(value))))
        elif isinstance(value, str) and (problem := _unstorable(value)):
            found.append(f"{path or '记录'}: {problem}")
    if len(found) > _MOST_SHOWN:
        found[_MOST_SHOWN:] = [f"…共 {len(found)} 处"]
    return found


def _unstorable(text: str) -> str | None:
    if "\x00" in text:
        return "含有 NUL 字符 (\\u0000), 无法保存"
    if surrogate := _SURROGATE.search(text):
        return f"含有无效的 Unicode 字符 (孤立代理项 U+{ord(surrogate[0]):04X}), 无法保存"
    return None
