"""Retention and erasure: calls older than their tenant's retention period are purged with what
was derived from them (events, suggestions, feedback, knowledge-gap questions), by a loop that
runs every ``RAFIQ_PURGE_INTERVAL_S`` and logs and audits what it removed."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from .records import utcnow
from .services import Services

log = logging.getLogger(__name__)


def erase_calls(svc: Services, call_ids: list[str]) -> dict[str, int]:
    """Remove the calls and everything derived from them; counts of what went."""
    questions = svc.gaps.forget_calls(call_ids)
    scores = svc.quality.erase(call_ids) if svc.quality is not None else 0
    calls = svc.records.erase(call_ids)
    return {"calls": calls, "gap_questions": questions, "quality_scores": scores}


def purge_expired(svc: Services) -> dict[str, dict[str, int]]:
    """One pass over every tenant; {tenant: counts} for the tenants where something went."""
    removed: dict[str, dict[str, int]] = {}
    tenants = set(svc.records.tenants())
    for tenant in sorted(tenants):
        days = svc.accounts.tenant_settings(tenant).retention_days
        if days <= 0:
            continue
        cutoff = utcnow() - timedelta(days=days)
        expired = [call_id for call_id in svc.records.ended_before(tenant, cutoff) if call_id not in svc.calls.live]
        if not expired:
            continue
        counts = erase_calls(svc, expired)
        removed[tenant] = counts
        log.info("retention purge", extra={"tenant": tenant, "retention_days": days, **counts})
        svc.audit.record(tenant, None, "retention.purge", outcome="ok",
                         detail={"retention_days": days, "cutoff": cutoff.isoformat(), **counts})
    return removed


async def purge_loop(svc: Services) -> None:
    interval = svc.settings.purge_interval_s
    while True:
        try:
            await asyncio.to_thread(purge_expired, svc)
        except Exception:
            log.exception("retention purge failed; it runs again at the next interval")
        await asyncio.sleep(interval)
