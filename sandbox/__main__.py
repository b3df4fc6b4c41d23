"""``python -m sandbox``: the sandbox as its own process, for the demo, benchmarks or a
browser. Point the bot's ``wecom.api_base`` at http://HOST:PORT/cgi-bin/ and open /sandbox/."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from aiohttp import web

from sandbox.app import create_sandbox_app
from sandbox.config import SandboxConfig


def _robot(value: str) -> tuple[str, str]:
    key, sep, name = value.partition("=")
    if not (sep and key and name):
        raise argparse.ArgumentTypeError(f"expected KEY=群名, got {value!r}")
    return key, name


def parse_args(argv: Sequence[str] | None = None) -> tuple[SandboxConfig, str, int]:
    """The sandbox's config, host and port from the command line."""
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument(
        "--robot",
        type=_robot,
        action="append",
        default=[],
        metavar="KEY=群名",
        help="a group robot's webhook key and its group chat's name (repeatable)",
    )
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="USERID",
        help="a known member (repeatable); without any, every userid exists",
    )
    parser.add_argument("--corp-id", default=defaults.corp_id)
    parser.add_argument("--corp-secret", default=defaults.corp_secret)
    parser.add_argument("--agent-id", type=int, default=defaults.agent_id)
    parser.add_argument("--callback-url", help="the bot's self-built-app callback URL")
    parser.add_argument("--aibot-callback-url", help="the bot's intelligent-robot callback URL")
    args = parser.parse_args(argv)
    config = SandboxConfig(
        corp_id=args.corp_id,
        corp_secret=args.corp_secret,
        agent_id=args.agent_id,
        webhook_keys=dict(args.robot),
        users=tuple(args.user),
        callback_url=args.callback_url,
        aibot_callback_url=args.aibot_callback_url,
    )
    return config, args.host, args.port


def main(argv: Sequence[str] | None = None) -> None:
    config, host, port = parse_args(argv)
    web.run_app(create_sandbox_app(config), host=host, port=port)


if __name__ == "__main__":
    main()
