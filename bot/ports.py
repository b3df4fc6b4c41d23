"""A port another program already listens on, said in one line with how to choose another."""

from __future__ import annotations

import errno
import socket


def is_port_taken(error: OSError) -> bool:
    return error.errno == errno.EADDRINUSE


def free_port(host: str) -> int:
    """A port nothing listens on right now, to suggest instead of a taken one."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class PortTaken(Exception):
    def __init__(self, host: str, port: int, how_to_change: str) -> None:
        super().__init__(f"端口 {port} 已被占用 ({host}:{port} 上已有程序在监听); {how_to_change}")
