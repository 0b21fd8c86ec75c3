"""This process as one node of a cluster (``RAFIQ_REDIS_URL``): it registers its live calls and
heartbeats in Redis, numbers events cluster-wide, admits calls per tenant across the cluster,
takes over a telephony call whose node died when the platform reconnects here, ends the calls of a
dead node that nobody resumes (``node_lost``), and keeps its embedded knowledge-base index in step
with publishes made on other nodes. Redis primitives are in ``cluster``; this is the wiring."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from typing import Any

import redis
import redis.asyncio as aioredis
import sqlalchemy as sa

from cluster.bus import RedisEventBus
from cluster.state import ClusterState

from .config import Settings
from .events import OVERFLOW, CallEnded
from .records import calls_table, iso, utcnow
from .sessions import Attachment, CallError, CallRegistry, CallSession

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
NODE_TTL_S = 3.0  # a node whose heartbeat is this old is dead
ORPHAN_SWEEP_S = 10.0
HAND_OFF_WAIT_S = 5.0  # longest a draining node takes to transcribe what it has before handing off


def node_id_for(settings: Settings) -> str:
    return settings.node_id or f"{socket.gethostname()}-{settings.port}-{uuid.uuid4().hex[:6]}"


def redis_clients(settings: Settings) -> tuple[aioredis.Redis, redis.Redis]:
    return (aioredis.Redis.from_url(settings.redis_url, decode_responses=True),
            redis.Redis.from_url(settings.redis_url, decode_responses=True))


def event_bus(client: aioredis.Redis) -> RedisEventBus:
    return RedisEventBus(client, OVERFLOW)


class ClusterNode:
    """Plugged into the ``CallRegistry`` (``registry.cluster``) and its observers (``on_end``)."""

    def __init__(self, settings: Settings, state: ClusterState, sync_client: redis.Redis, registry: CallRegistry,
                 kb, bus: RedisEventBus, index_may_be_stale: bool = True):
        self.settings = settings
        self.state = state
        self.node_id = state.node_id
        self.sync_client = sync_client
        self.registry = registry
        self.kb = kb
        self.bus = bus
        self.index_may_be_stale = index_may_be_stale  # an index kept in data_dir from an earlier run
        self.shared_index = bool(settings.qdrant_url)  # a Qdrant server: every node already sees every write
        self._tasks: list[asyncio.Task] = []
        self._orphan_candidates: set[str] = set()
        self._last_orphan_sweep = 0.0
        if not self.shared_index:
            kb.listeners.append(self._announce_kb)

    # -- life of the node ----------------------------------------------------------------------

    async def start(self) -> None:
        await self.state.heartbeat(self._info())
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._heartbeats()), loop.create_task(self._reaper())]
        if not self.shared_index:
            # The first search of a process pays the embedding model's warm-up (seconds): paid now,
            # not by the first notice from a peer.
            await asyncio.to_thread(self.kb.search, "warm-up", "default", 1)
            self._tasks.append(loop.create_task(self._follow_kb()))
        log.info("cluster node joined", extra={"node": self.node_id, "nodes": sorted(await self.state.nodes())})

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.bus.close()
            await self.state.leave()
        except Exception:
            log.exception("cluster: leaving failed")

    def _info(self) -> dict[str, Any]:
        return {"url": f"http://{self.settings.host}:{self.settings.port}", "pid": os.getpid(),
                "live_calls": len(self.registry.live), "draining": self.registry.draining}

    async def _heartbeats(self) -> None:
        while True:
            try:
                await self.state.heartbeat(self._info())
                for session in list(self.registry.live.values()):
                    if not session.finishing:
                        await self.state.ensure(session.call_id, session.tenant, self._entry(session))
            except Exception as exc:
                log.error("cluster heartbeat failed", extra={"error": str(exc)})
            await asyncio.sleep(HEARTBEAT_S)

    async def ready(self) -> bool:
        try:
            return await asyncio.wait_for(self.state.ping(), 2)
        except Exception:
            return False

    # -- the registry's seams ------------------------------------------------------------------

    async def next_seq(self, call_id: str, floor: int) -> int:
        try:
            return await self.state.next_seq(call_id, floor)
        except redis.RedisError as exc:
            # Redis away: the call's owner numbers on by itself (the record stays whole); Redis's
            # counter catches up from this floor when it is back.
            log.error("cluster numbering unavailable, numbering locally", extra={"call_id": call_id,
                                                                                 "error": str(exc)})
            return floor + 1

    async def admit(self, call_id: str, tenant: str) -> None:
        """A new call of ``tenant``: refused when the tenant has ``RAFIQ_TENANT_MAX_CALLS`` live
        calls across the cluster."""
        if not await self.state.admit(tenant, call_id, self.settings.tenant_max_calls):
            raise CallError("too_many_calls",
                            f"tenant {tenant!r} is at its limit of {self.settings.tenant_max_calls} live calls",
                            close_code=1013)

    async def opened(self, session: CallSession) -> None:
        try:
            await self._register(session)
        except redis.RedisError as exc:  # the call goes on; peers do not see it until Redis is back
            log.error("call not registered in the cluster", extra={"call_id": session.call_id, "error": str(exc)})

    async def _register(self, session: CallSession) -> None:
        await self.state.register(session.call_id, self._entry(session))

    @staticmethod
    def _entry(session: CallSession) -> dict[str, Any]:
        return {"tenant": session.tenant, "agent": session.agent, "team": session.team,
                "started_at": iso(session.started_at), "resumable": session.resumable}

    async def on_end(self, session: CallSession) -> None:  # a CallObserver hook
        try:
            await self.state.unregister(session.call_id, session.tenant)
        except redis.RedisError as exc:
            log.error("call not unregistered from the cluster", extra={"call_id": session.call_id,
                                                                        "error": str(exc)})

    async def hand_off(self, session: CallSession) -> bool:
        """This node drains and the call's connection went away (asked to reconnect elsewhere, or
        dropped): when another node is ready, the audio so far is transcribed and recorded here,
        then the cluster's registry marks the call handed off, so that the node the platform
        reconnects to takes it at once instead of waiting for this one to die. False (nothing
        done) when no other node is ready: the call waits here for a reconnect as usual."""
        try:
            if not await self.peers_ready():
                return False
        except redis.RedisError:
            return False

        async def announce() -> None:
            try:
                await self.state.update(session.call_id, handed_off_at=time.time())
            except redis.RedisError as exc:  # peers take it over once this node is gone, as after a crash
                log.error("hand-off not registered in the cluster", extra={"call_id": session.call_id,
                                                                           "error": str(exc)})

        await session.hand_over(announce)
        log.info("call handed off to the cluster", extra={"call_id": session.call_id, "node": self.node_id})
        return True

    async def peers_ready(self) -> list[str]:
        """The other nodes alive and not draining: where a moved call can go."""
        return sorted(node for node, info in (await self.state.nodes()).items()
                      if node != self.node_id and not info.get("draining"))

    async def released(self, call_id: str, tenant: str) -> None:
        """A call admitted but not opened (its start failed)."""
        await self.state.unregister(call_id, tenant)

    async def live_calls(self) -> dict[str, dict[str, Any]]:
        return await self.state.calls()

    # -- a telephony call whose node died, reconnected here ----------------------------------

    async def adopt(self, call_id: str, tenant: str, feeds: list[str], source: dict[str, Any] | None,
                    language: str | None) -> Attachment | None:
        """The attachment of a live resumable call another node owned and lost, now continued on
        this one (same call id, record, numbering; segment ids and the timeline go on); None when
        the call is not such a call (the caller goes on as for a new or ended call)."""
        registry = self.registry
        record = await asyncio.to_thread(registry.records.get, call_id)
        if record is None or record["status"] != "live" or record["tenant"] != tenant:
            return None
        if registry.draining:
            raise CallError("draining", "this server is shutting down: connect to another", close_code=1013)
        entry = await self.state.call(call_id)
        if entry is not None:
            if not entry.get("resumable"):
                return None
            # The platform may reconnect before the old node's heartbeat lapses, or before a
            # draining node has handed the call off (it transcribes what it received first): wait.
            deadline = time.monotonic() + NODE_TTL_S + 1.0 + HAND_OFF_WAIT_S
            while entry is not None and entry.get("handed_off_at") is None and await self.state.alive(entry["node"]):
                if time.monotonic() > deadline:
                    raise CallError("call_busy", f"call {call_id!r} is already streaming")
                await asyncio.sleep(0.2)
                entry = await self.state.call(call_id)
        if not await self.state.claim(call_id):
            raise CallError("call_busy", f"call {call_id!r} is being taken over")
        try:
            events = await asyncio.to_thread(registry.records.events, call_id)
            roles = list(record["roles"])
            if not set(feeds) <= set(roles):
                raise CallError("call_busy", f"call {call_id!r} carries roles {roles}, not {feeds}")
            redact_kinds = await asyncio.to_thread(registry.redaction, tenant)
            session = CallSession(call_id, tenant, roles, language if language is not None else record["language"],
                                  registry, resumable=True, source=source, agent=record["agent"],
                                  team=record["team"], redact_kinds=redact_kinds, campaign=record["campaign"])
            finals = [e for e in events if e["type"] == "transcript.final"]
            pause_s = (registry.streaming_config.endpointing.min_silence_ms + 500) / 1000
            resume_at = max((e["end"] for e in finals), default=0.0) + pause_s
            for channel in session.transcriber.channels:
                numbers = [int(e["segment_id"].rsplit("-", 1)[1]) for e in finals
                           if e["speaker"] == channel.speaker and e["segment_id"].rsplit("-", 1)[-1].isdigit()]
                # One number skipped: an utterance open at the crash may have had partials with it.
                channel.continue_from(max(numbers, default=0) + 1, resume_at)
            registry._seq[call_id] = max((e["seq"] for e in events), default=0)
            registry.live[call_id] = session
            attachment = session.attach(feeds)
            await self.state.register(call_id, {"tenant": tenant, "agent": session.agent, "team": session.team,
                                                "started_at": record["started_at"], "resumable": True,
                                                "adopted_from": entry["node"] if entry else None})
            await self.state.admit(tenant, call_id, 0)
        finally:
            await self.state.release_claim(call_id)
        log.info("call taken over from a handed-off or lost node",
                 extra={"call_id": call_id, "from_node": entry["node"] if entry else None, "node": self.node_id,
                        "handed_off": bool(entry and entry.get("handed_off_at")),
                        "last_seq": registry._seq[call_id], "resume_at_s": round(resume_at, 3)})
        registry.announce(session, "agent.call.started")
        return attachment

    # -- calls of dead nodes -------------------------------------------------------------------

    async def _reaper(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._reap()
                if time.monotonic() - self._last_orphan_sweep > ORPHAN_SWEEP_S:
                    self._last_orphan_sweep = time.monotonic()
                    await self._sweep_orphans()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cluster reaper failed")

    async def _reap(self) -> None:
        now = time.time()
        for call_id, entry in (await self.state.calls()).items():
            handed_off_at = entry.get("handed_off_at")
            if entry["node"] == self.node_id and handed_off_at is None:
                if call_id not in self.registry.live:  # its end hook never ran (e.g. an observer failed)
                    await self.state.unregister(call_id, entry["tenant"])
                continue
            if handed_off_at is not None:
                # Handed off by a draining node: the platform has the resume grace to reconnect.
                if now - handed_off_at < self.registry.resume_grace_s or entry["node"] == self.node_id:
                    continue
                reason = "disconnected"
            elif await self.state.alive(entry["node"]):
                continue
            else:
                reason = "node_lost"
            if entry.get("resumable") and handed_off_at is None:
                lost_at = entry.get("lost_at")
                if lost_at is None:
                    await self.state.update(call_id, lost_at=now)
                    log.warning("call's node lost; waiting for a reconnect",
                                extra={"call_id": call_id, "node": entry["node"],
                                       "grace_s": self.registry.resume_grace_s})
                    continue
                if now - lost_at < self.registry.resume_grace_s:
                    continue
            if await self.state.claim(call_id):
                try:
                    await self._end_lost(call_id, entry["tenant"], reason)
                finally:
                    await self.state.unregister(call_id, entry["tenant"])

    async def _end_lost(self, call_id: str, tenant: str, reason: str = "node_lost") -> None:
        """Close the record of a call whose node died, and tell its followers (numbered on)."""
        ended_at = utcnow()
        ended = await asyncio.to_thread(self._end_if_live, call_id, reason, ended_at)
        if not ended:
            return
        registry = self.registry
        events = await asyncio.to_thread(registry.records.events, call_id)
        registry._seq[call_id] = max((e["seq"] for e in events), default=0)
        await registry.emit(call_id, CallEnded(call_id=call_id, ended_at=iso(ended_at), reason=reason).model_dump())
        registry.forget_sequence(call_id)
        log.warning("call ended: its node was lost" if reason == "node_lost" else "call ended: no reconnect after its hand-off",
                    extra={"call_id": call_id, "tenant": tenant, "reason": reason})

    def _end_if_live(self, call_id: str, reason: str, ended_at) -> bool:
        with self.registry.records.engine.begin() as conn:
            return bool(conn.execute(calls_table.update().where(calls_table.c.call_id == call_id,
                                                                calls_table.c.status == "live")
                                     .values(status="ended", ended_at=ended_at, end_reason=reason)).rowcount)

    def _live_records(self) -> list[tuple[str, str]]:
        with self.registry.records.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(
                sa.select(calls_table.c.call_id, calls_table.c.tenant).where(calls_table.c.status == "live"))]

    async def _sweep_orphans(self) -> None:
        """Records still live that no node registers (the whole cluster stopped, or Redis was
        emptied): ended ``node_lost`` once seen orphaned by two sweeps in a row."""
        live = await asyncio.to_thread(self._live_records)
        registered = await self.state.calls()
        orphans = {call_id for call_id, _ in live if call_id not in registered and call_id not in self.registry.live}
        for call_id, tenant in live:
            if call_id in orphans and call_id in self._orphan_candidates and await self.state.claim(call_id):
                try:
                    await self._end_lost(call_id, tenant)
                finally:
                    await self.state.release_claim(call_id)
        self._orphan_candidates = orphans

    # -- knowledge base ------------------------------------------------------------------------

    def _announce_kb(self, article_ids: list[str]) -> None:
        """Called in the thread that re-indexed articles here: peers re-index them from PostgreSQL."""
        try:
            self.sync_client.publish(self.state.kb_channel, json.dumps({"node": self.node_id,
                                                                        "articles": sorted(article_ids)}))
        except Exception as exc:
            log.error("knowledge-base change not announced", extra={"error": str(exc)})

    async def _follow_kb(self) -> None:
        while True:
            pubsub = self.state.client.pubsub()
            try:
                await pubsub.subscribe(self.state.kb_channel)
                # Whatever was published while this node was away (or before it subscribed); an
                # index built from the database at this start is already up to date.
                if self.index_may_be_stale:
                    await asyncio.to_thread(self._refresh_all)
                self.index_may_be_stale = True  # from now on, a reconnect may have missed notices
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    notice = json.loads(message["data"])
                    if notice.get("node") == self.node_id:
                        continue
                    await asyncio.to_thread(self.kb.refresh, notice["articles"])
                    log.info("knowledge-base change from another node indexed",
                             extra={"from_node": notice.get("node"), "articles": len(notice["articles"])})
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except Exception as exc:
                log.error("knowledge-base notifications interrupted", extra={"error": str(exc)})
                await pubsub.aclose()
                await asyncio.sleep(1)

    def _refresh_all(self) -> None:
        ids = [article.id for article in self.kb.store.list(limit=1_000_000)]
        self.kb.refresh(ids)
