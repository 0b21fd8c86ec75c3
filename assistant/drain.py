"""Graceful drain: on SIGTERM the process stops admitting calls (``/readyz`` answers 503, so a load
balancer sends new ones elsewhere), asks the platforms that can move a call (AudioHook
``reconnect``) to reconnect to another node of the cluster, lets its other live calls finish for up
to ``RAFIQ_DRAIN_S``, then exits as before (calls still live then end ``server_shutdown``)."""

from __future__ import annotations

import asyncio
import logging
import signal

import uvicorn

log = logging.getLogger(__name__)


async def drain(svc, deadline_s: float) -> None:
    """Stop admitting new calls and wait (at most ``deadline_s``) for the live ones to end."""
    registry = svc.calls
    registry.draining = True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    log.info("draining", extra={"live_calls": len(registry.live), "drain_s": deadline_s})
    await move_calls(svc)
    while registry.live and loop.time() < deadline:
        await asyncio.sleep(0.2)
    log.info("drained" if not registry.live else "drain deadline reached",
             extra={"live_calls": len(registry.live)})


async def move_calls(svc) -> int:
    """In a cluster with another node ready, ask every connection whose protocol can reconnect
    elsewhere to do so; its call is handed off when the connection closes (``ClusterNode.hand_off``).
    Returns how many connections were asked."""
    if svc.cluster is None:
        return 0
    try:
        peers = await svc.cluster.peers_ready()
    except Exception as exc:
        log.error("drain: cannot tell which nodes are ready; calls finish here", extra={"error": str(exc)})
        return 0
    if not peers:
        log.info("drain: no other node ready; calls finish here")
        return 0
    asked = 0
    for session in list(svc.calls.live.values()):
        for attachment in list(session.attachments):
            if attachment.ask_to_reconnect is None:
                continue
            try:
                await attachment.ask_to_reconnect("node draining")
                asked += 1
            except Exception as exc:  # the connection is going away anyway: the call waits for it
                log.warning("drain: reconnect request not sent", extra={"call_id": session.call_id, "error": str(exc)})
    log.info("drain: asked platforms to reconnect elsewhere", extra={"connections": asked, "peers": peers})
    return asked


class DrainingServer(uvicorn.Server):
    """uvicorn's server, except that the first SIGTERM drains (see ``drain``) before the usual
    shutdown; a second SIGTERM, or SIGINT, exits at once as uvicorn does."""

    def __init__(self, config: uvicorn.Config, app, drain_s: float):
        super().__init__(config)
        self.app = app  # the FastAPI application: its state holds the services
        self.drain_s = drain_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False

    async def serve(self, sockets=None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig, frame) -> None:
        if sig == signal.SIGTERM and not self._draining and self._loop is not None and self.started:
            self._draining = True
            self._loop.call_soon_threadsafe(lambda: self._loop.create_task(self._drain_then_exit()))
            return
        super().handle_exit(sig, frame)

    async def _drain_then_exit(self) -> None:
        try:
            await drain(self.app.state.services, self.drain_s)
        except Exception:
            log.exception("drain failed")
        self.should_exit = True
