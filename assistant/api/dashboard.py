"""The supervisors' dashboard over HTTP: each chart of ``/supervisor/analytics`` as JSON or CSV,
within the caller's tenant (and team, for a supervisor with one)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from analytics.dashboard import Dashboard, Filters

from .auth import Caller
from .deps import services

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])

DEFAULT_DAYS = 30  # the range when none is given: the last 30 days
MAX_DAYS = 400  # a longer range is refused: a year and a bit is what a review compares


def _bad(code: str, message: str) -> HTTPException:
    return HTTPException(422, {"code": code, "message": message})


def _moment(value: str, name: str, end: bool) -> datetime:
    """A day ("2026-12-01": its start, or for ``to`` the start of the next day, so the day is
    included) or an ISO 8601 moment (UTC when it has no zone)."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1 if end else 0), time(), timezone.utc)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _bad("bad_date", f"{name!r} must be a day (YYYY-MM-DD) or an ISO 8601 moment, not {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def filters_for(caller, start: str | None, end: str | None, team: str | None, campaign: str | None) -> Filters:
    """The chart filters a caller may ask for: their tenant always; a supervisor with a team only
    that team (asking for another is refused, not silently narrowed)."""
    until = _moment(end, "to", True) if end else datetime.now(timezone.utc)
    since = _moment(start, "from", False) if start else until - timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise _bad("bad_range", "'from' must come before 'to'")
    if until - since > timedelta(days=MAX_DAYS):
        raise _bad("range_too_long", f"a range covers at most {MAX_DAYS} days")
    if caller.team is not None:
        if team not in (None, caller.team):
            raise HTTPException(403, {"code": "other_team", "message": "you see your own team's calls only"})
        team = caller.team
    return Filters(tenant=caller.tenant, start=since, end=until, team=team or None, campaign=campaign or None)


def dashboard_of(request: Request) -> Dashboard:
    svc = services(request)
    return Dashboard(svc.stats.engine, gaps_opened=svc.gaps.opened_per_day, quality=svc.quality)


@router.get("/charts")
async def chart_names(request: Request, caller: Caller) -> dict:
    """The charts the dashboard serves."""
    return {"charts": list(dashboard_of(request).charts)}


@router.get("/charts/{name}")
async def chart(request: Request, name: str, caller: Caller,
                start: str | None = Query(None, alias="from", max_length=40),
                end: str | None = Query(None, alias="to", max_length=40),
                team: str | None = Query(None, max_length=64), campaign: str | None = Query(None, max_length=64),
                format: Literal["json", "csv"] = "json"):
    """One chart's numbers: ``{"chart", "filters", "columns", "rows"}``, or the rows as CSV
    (``format=csv``: a header of the columns, then one line per row)."""
    dashboard = dashboard_of(request)
    if name not in dashboard.charts:
        raise HTTPException(404, {"code": "unknown_chart", "message": f"no chart {name!r}; see /v1/analytics/charts"})
    filters = filters_for(caller, start, end, team, campaign)
    result = await asyncio.to_thread(dashboard.chart, name, filters)
    if format == "csv":
        return Response(result.as_csv(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return {**result.as_json(), "filters": {"from": filters.start.isoformat(), "to": filters.end.isoformat(),
                                            "team": filters.team, "campaign": filters.campaign}}
