"""The supervisors' live floor and alerts, as one ``CallObserver``: it follows every live call
(``analytics.floor.FloorCall``), applies its tenant's alert rules to it
(``analytics.alerts.AlertWatch``), emits ``alert`` events on the call's stream, and publishes each
change of a call's floor row on its tenant's floor channel (``floor_channel``). One task ticks
every live call's clock rules (silence, duration) once a second."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from analytics.alerts import AlertRules, AlertWatch
from analytics.floor import FloorCall

from .events import AlertEvent, EventBus
from .records import iso, utcnow
from .sessions import CallObserver, CallSession

log = logging.getLogger(__name__)

QUIET_STEP_S = 5  # the floor's "silent for" figure moves in steps this long (no per-second traffic)


def floor_channel(tenant: str) -> str:
    """The bus channel of a tenant's floor. The '/' keeps it apart from every call id (a call
    id can never contain one), so no call's subscribers receive it."""
    return f"floor/{tenant}"


@dataclass
class _Followed:
    session: CallSession
    row: FloorCall
    watch: AlertWatch
    began: float  # monotonic clock at the call's start
    quiet_step: int = 0

    def now(self) -> float:
        return time.monotonic() - self.began


class FloorService(CallObserver):
    def __init__(self, rules: AlertRules, bus: EventBus, tick_s: float = 1.0):
        self.rules = rules
        self.bus = bus
        self.tick_s = tick_s
        self._calls: dict[str, _Followed] = {}
        self._ticker: asyncio.Task | None = None

    # --- the observer ------------------------------------------------------------------------

    async def on_event(self, session: CallSession, event: dict[str, Any]) -> None:
        kind = event.get("type")
        followed = self._calls.get(session.call_id)
        if followed is None:
            if kind == "call.ended":
                return
            followed = await self._follow(session)
        if kind == "call.ended":
            self._calls.pop(session.call_id, None)
            self.bus.publish(floor_channel(session.tenant), {"type": "floor.call.ended", "call_id": session.call_id,
                                                             "team": session.team, "agent": session.agent})
            return
        row = followed.row
        changed = self._sync_owner(followed)
        alerts = followed.watch.observe(event, followed.now())
        if kind == "transcript.partial":
            changed |= self._quiet(followed)
        else:
            changed |= row.observe(event, iso(utcnow()))
            changed |= row.set_timing(followed.watch.silence_s, followed.watch.overtalk_s)
            changed |= self._quiet(followed)
        if changed:
            self._publish(followed)
        await self._raise(followed, alerts)

    async def _follow(self, session: CallSession) -> _Followed:
        rules = await asyncio.to_thread(self.rules.list, session.tenant, session.campaign, applicable=True)
        # Another event of the call may have started following it while the rules loaded.
        existing = self._calls.get(session.call_id)
        if existing is not None:
            return existing
        row = FloorCall(session.call_id, session.tenant, agent=session.agent, team=session.team,
                        campaign=session.campaign, started_at=iso(session.started_at), language=None)
        elapsed = (utcnow() - session.started_at).total_seconds()
        followed = _Followed(session, row, AlertWatch(rules), time.monotonic() - max(0.0, elapsed))
        self._calls[session.call_id] = followed
        self._ensure_ticker()
        return followed

    @staticmethod
    def _sync_owner(followed: _Followed) -> bool:
        """The agent (and team) can change during a call (a transfer, a PBX naming the agent late)."""
        session, row = followed.session, followed.row
        if (row.agent, row.team) == (session.agent, session.team):
            return False
        row.agent, row.team = session.agent, session.team
        return True

    async def on_end(self, session: CallSession) -> None:
        followed = self._calls.get(session.call_id)
        if followed is not None:
            await self._raise(followed, followed.watch.finish())

    def _quiet(self, followed: _Followed) -> bool:
        step = int(followed.watch.silence_now(followed.now()) // QUIET_STEP_S) * QUIET_STEP_S
        if step == followed.quiet_step:
            return False
        followed.quiet_step = step
        return True

    def _publish(self, followed: _Followed) -> None:
        self.bus.publish(floor_channel(followed.session.tenant), {"type": "floor.call", "call": self.view(followed)})

    def view(self, followed: _Followed) -> dict[str, Any]:
        return {**followed.row.view(), "silent_for_s": followed.quiet_step}

    async def _raise(self, followed: _Followed, alerts) -> None:
        session = followed.session
        for alert in alerts:
            event = AlertEvent(**alert.event(session.call_id, iso(utcnow()))).model_dump()
            log.info("alert raised", extra={"call_id": session.call_id, "rule_id": alert.rule_id, "kind": alert.kind,
                                            "alert_id": alert.alert_id})
            await session.registry.emit(session.call_id, event)

    # --- the clock ---------------------------------------------------------------------------

    def _ensure_ticker(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def _tick_forever(self) -> None:
        while self._calls:
            await asyncio.sleep(self.tick_s)
            for followed in list(self._calls.values()):
                if followed.session.finishing:
                    continue
                try:
                    alerts = followed.watch.tick(followed.now())
                    if self._quiet(followed) or self._sync_owner(followed):
                        self._publish(followed)
                    await self._raise(followed, alerts)
                except Exception:
                    log.exception("floor tick failed", extra={"call_id": followed.session.call_id})

    # --- what the routes ask -----------------------------------------------------------------

    def snapshot(self, tenant: str, visible: Callable[[dict], bool]) -> list[dict[str, Any]]:
        """The floor rows of the tenant's live calls that ``visible`` lets the caller see."""
        rows = []
        for followed in self._calls.values():
            session = followed.session
            call = {"tenant": session.tenant, "agent": session.agent, "team": session.team}
            if session.tenant == tenant and not session.finishing and visible(call):
                rows.append(self.view(followed))
        return sorted(rows, key=lambda row: row["started_at"])

    def open_alert(self, call_id: str, alert_id: str) -> dict[str, Any] | None:
        followed = self._calls.get(call_id)
        return followed.row.alerts.get(alert_id) if followed is not None else None

    async def rules_changed(self, tenant: str) -> None:
        """A supervisor edited the tenant's rules: its live calls apply them from now on."""
        for followed in list(self._calls.values()):
            session = followed.session
            if session.tenant == tenant:
                rules = await asyncio.to_thread(self.rules.list, tenant, session.campaign, applicable=True)
                followed.watch.set_rules(rules)

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
