"""What any tracking provider offers orderbot, so another one (快递鸟, a carrier's own API) can
plug in beside 快递100: subscribe a waybill, and turn its signed push into scans."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from rules.logistics import Logistics


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # the provider follows the waybill (or already did)
    RETRY = "retry"  # it could not take it now: try again later
    REFUSED = "refused"  # it never will as asked: a person must look


@dataclass(frozen=True, slots=True)
class Subscription:
    """A waybill to follow and what helps the provider follow it."""

    tracking_no: str
    carrier: str | None  # rules.logistics code; None: let the provider guess
    origin: str | None  # 省市区 text
    destination: str | None
    phone: str | None  # the receiver's; some carriers (顺丰) need it


@dataclass(frozen=True, slots=True)
class SubscribeAnswer:
    outcome: Outcome
    code: str  # the provider's own answer code, or "network" when none came
    reason: str  # in Chinese, for the parcel's record and ops


@dataclass(frozen=True, slots=True)
class ProviderScan:
    """One scan as the provider reports it; its code is mapped onto the canonical states by
    the provider's ``state_of``."""

    at: datetime  # aware, UTC
    text: str
    place: str | None
    code: str | None


class PushStatus(StrEnum):
    POLLING = "polling"  # still following
    ENDED = "ended"  # the parcel arrived; no more pushes
    ABORTED = "aborted"  # the provider gave up (no record for days, no change for weeks)


@dataclass(frozen=True, slots=True)
class Push:
    """A verified push: the waybill's full trace as the provider knows it, newest first."""

    tracking_no: str
    carrier: str | None  # rules.logistics code, when the provider names one we know
    status: PushStatus
    message: str
    scans: tuple[ProviderScan, ...]


class PushRefused(ValueError):
    """A push that is not the provider's (no or wrong signature) or cannot be read: nothing of
    it is kept."""


class TrackingProvider(Protocol):
    name: str  # the source scans are recorded under
    success_body: bytes  # what the provider must hear back, exactly, or it pushes again
    failure_body: bytes  # what makes it push again later

    async def subscribe(self, subscription: Subscription) -> SubscribeAnswer: ...

    def read_push(self, form: Mapping[str, str]) -> Push:
        """The push's scans once its signature holds; raises PushRefused."""
        ...

    def state_of(self, code: str) -> Logistics | None:
        """The canonical state of the provider's code; raises rules.logistics.UnknownCode."""
        ...
