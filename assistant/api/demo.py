"""The demo call: the bundled recording streamed through the real ingest WebSocket."""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from accounts import Principal
from assistant.demo import DEMO_AUDIO, demo_roles
from assistant.simulate import stream_file

from .auth import Caller
from .deps import services

log = logging.getLogger(__name__)
router = APIRouter(tags=["demo"])


def _own_ws_url(request: Request, call_id: str) -> str:
    host, port = request.scope["server"]  # the socket this server listens on
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"ws://{host}:{port}/v1/calls/{call_id}/audio"


@router.post("/v1/demo/calls", status_code=202)
async def start_demo_call(request: Request, caller: Caller) -> JSONResponse:
    """Play the bundled recording as a live call taken by the signed-in agent."""
    svc = services(request)
    if not DEMO_AUDIO.exists():
        raise HTTPException(503, {"code": "no_demo", "message": "the demo recording is not installed"})
    call_id = f"demo-{uuid.uuid4().hex[:8]}"
    # The recording goes through the real ingest socket, with a credential that lives as long as
    # the demo call and only in this process's memory.
    secret = "rfi_" + secrets.token_urlsafe(32)
    svc.internal_credentials[secret] = Principal(kind="internal", id="demo", name="demo", tenant=caller.tenant,
                                                 roles=frozenset({"ingest"}), via="internal")
    task = asyncio.get_running_loop().create_task(
        stream_file(DEMO_AUDIO, _own_ws_url(request, call_id), roles=demo_roles(), speed=1.0, api_key=secret,
                    agent=caller.name)
    )
    svc.background.add(task)
    task.add_done_callback(svc.background.discard)
    task.add_done_callback(lambda _: svc.internal_credentials.pop(secret, None))
    for _ in range(100):  # answer once the call exists, so the panel can subscribe at once
        if call_id in svc.calls.live or task.done():
            break
        await asyncio.sleep(0.05)
    if task.done() and task.exception() is not None:
        log.error("demo call failed", exc_info=task.exception())
        raise HTTPException(500, {"code": "demo_failed", "message": str(task.exception())})
    if task.done() and task.result()["errors"]:  # refused by the ingest, e.g. too_many_calls
        error = task.result()["errors"][0]
        status = 503 if error["code"] == "too_many_calls" else 500
        raise HTTPException(status, {"code": error["code"], "message": error["message"]})
    return JSONResponse({"call_id": call_id}, status_code=202)
