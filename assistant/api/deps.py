"""Access to the process's services from a request or a WebSocket."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from assistant.app import Services


def services(conn: HTTPConnection) -> "Services":
    return conn.app.state.services
