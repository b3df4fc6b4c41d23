"""Who may use the ops console and how far: a role from the config, read at every request, so
taking someone out of the config ends their access at their next click."""

from __future__ import annotations

from enum import IntEnum

from services.config import Config


class Access(IntEnum):
    """Each level includes the ones below it."""

    VIEW = 1  # the boards and lists
    EDIT = 2  # rule drafts
    PUBLISH = 3  # putting a draft in force, rolling back

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {Access.VIEW: "查看", Access.EDIT: "编辑草稿", Access.PUBLISH: "发布"}


def access_of(config: Config, user: str) -> Access | None:
    """``[roles] rule_publishers`` publish, ``rule_editors`` edit drafts, ``[roles] ops`` and
    every group's supervisor look; None for anyone else (a handler, customer service, or a
    member of the corp the config does not know)."""
    roles = config.roles
    if user in roles.rule_publishers:
        return Access.PUBLISH
    if user in roles.rule_editors:
        return Access.EDIT
    supervisors = {group.supervisor for group in config.groups.values()}
    if user in roles.ops or user in supervisors:
        return Access.VIEW
    return None
