"""A local WeCom: the HTTP API the bot calls, as documented, plus a page and an admin API to
watch what it accepted, inject faults, and speak to the bot as a member would."""

from sandbox.app import create_sandbox_app
from sandbox.callbacks import (
    CallbackNotConfigured,
    aibot_callback_request,
    app_callback_request,
    send_aibot_callback,
    send_app_callback,
    verification_query,
    verify_callback_url,
)
from sandbox.config import SandboxConfig, robot_chat_id
from sandbox.state import SANDBOX_STATE, Record, SandboxState

__all__ = [
    "SANDBOX_STATE",
    "CallbackNotConfigured",
    "Record",
    "SandboxConfig",
    "SandboxState",
    "aibot_callback_request",
    "app_callback_request",
    "create_sandbox_app",
    "robot_chat_id",
    "send_aibot_callback",
    "send_app_callback",
    "verification_query",
    "verify_callback_url",
]
