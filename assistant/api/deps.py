"""Access to the process's services from a request or a WebSocket."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from assistant.services import Services


def services(conn: HTTPConnection) -> Services:
    return conn.app.state.services
