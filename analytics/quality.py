"""Quality checklists (call scripts) and the calls' quality scores, in SQL (SQLite or PostgreSQL).

A tenant has at most one checklist per campaign and one for every campaign (campaign null); a
call uses its campaign's checklist, else the tenant's one for every campaign. A call's score is
stored when the call ends, with each item's evidence; a supervisor may override an item (who
and when are kept) and the score is recomputed from the items as they stand.

``QualityStore.quality_of(call_id)`` is what the call view (``GET /v1/calls/{id}``) shows as
``quality``.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from storage import UtcDateTime, ensure_schema

from .checklist import DEFAULT_MEANING_THRESHOLD, Item, score

metadata = sa.MetaData()

checklists_table = sa.Table(
    "quality_checklists",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False, index=True),
    sa.Column("campaign", sa.String(64), nullable=True),  # null: every campaign of the tenant
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("items", sa.JSON, nullable=False),
    sa.Column("products", sa.JSON, nullable=False),  # product names shown as fact chips when heard
    sa.Column("remind_after_s", sa.Float, nullable=True),  # reminder of open steps after this long
    sa.Column("meaning_threshold", sa.Float, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.Column("updated_by", sa.String(64), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

call_quality_table = sa.Table(
    "call_quality",
    metadata,
    sa.Column("call_id", sa.String(128), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("agent", sa.String(64), nullable=True),
    sa.Column("team", sa.String(64), nullable=True),
    sa.Column("campaign", sa.String(64), nullable=True),
    sa.Column("checklist_id", sa.String(32), nullable=False),
    sa.Column("checklist_version", sa.Integer, nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("items", sa.JSON, nullable=False),
    sa.Column("scored_at", UtcDateTime(), nullable=False),
    sa.Index("ix_call_quality_tenant_started", "tenant", "started_at"),
)


class ChecklistConflict(Exception):
    """The tenant already has a checklist for that campaign."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds") if moment is not None else None


class QualityStore:
    def __init__(self, engine: sa.Engine):
        self.engine = engine
        ensure_schema(engine, metadata)
        self._lock = threading.Lock()  # one writer per (tenant, campaign) check-then-insert

    # --- checklists ---------------------------------------------------------------------------

    @staticmethod
    def _checklist(row) -> dict[str, Any]:
        return {"id": row["id"], "tenant": row["tenant"], "campaign": row["campaign"], "name": row["name"],
                "items": row["items"], "products": row["products"], "remind_after_s": row["remind_after_s"],
                "meaning_threshold": row["meaning_threshold"], "version": row["version"],
                "updated_by": row["updated_by"], "created_at": _iso(row["created_at"]),
                "updated_at": _iso(row["updated_at"])}

    def _same_campaign(self, conn, tenant: str, campaign: str | None, except_id: str | None = None) -> bool:
        column = checklists_table.c.campaign
        query = sa.select(checklists_table.c.id).where(
            checklists_table.c.tenant == tenant, column.is_(None) if campaign is None else column == campaign)
        if except_id is not None:
            query = query.where(checklists_table.c.id != except_id)
        return conn.execute(query).first() is not None

    def create(self, tenant: str, data: dict[str, Any], by: str) -> dict[str, Any]:
        now = utcnow()
        checklist_id = uuid.uuid4().hex
        with self._lock, self.engine.begin() as conn:
            if self._same_campaign(conn, tenant, data.get("campaign")):
                raise ChecklistConflict(data.get("campaign"))
            conn.execute(checklists_table.insert().values(
                id=checklist_id, tenant=tenant, campaign=data.get("campaign"), name=data["name"],
                items=data["items"], products=data.get("products") or [], remind_after_s=data.get("remind_after_s"),
                meaning_threshold=data.get("meaning_threshold"), version=1, updated_by=by,
                created_at=now, updated_at=now))
        return self.get(tenant, checklist_id)

    def update(self, tenant: str, checklist_id: str, data: dict[str, Any], by: str) -> dict[str, Any] | None:
        with self._lock, self.engine.begin() as conn:
            row = conn.execute(sa.select(checklists_table).where(
                checklists_table.c.id == checklist_id, checklists_table.c.tenant == tenant)).mappings().first()
            if row is None:
                return None
            if self._same_campaign(conn, tenant, data.get("campaign"), except_id=checklist_id):
                raise ChecklistConflict(data.get("campaign"))
            conn.execute(checklists_table.update().where(checklists_table.c.id == checklist_id).values(
                campaign=data.get("campaign"), name=data["name"], items=data["items"],
                products=data.get("products") or [], remind_after_s=data.get("remind_after_s"),
                meaning_threshold=data.get("meaning_threshold"), version=row["version"] + 1, updated_by=by,
                updated_at=utcnow()))
        return self.get(tenant, checklist_id)

    def delete(self, tenant: str, checklist_id: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(checklists_table.delete().where(
                checklists_table.c.id == checklist_id, checklists_table.c.tenant == tenant)).rowcount > 0

    def get(self, tenant: str, checklist_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(checklists_table).where(
                checklists_table.c.id == checklist_id, checklists_table.c.tenant == tenant)).mappings().first()
        return self._checklist(row) if row else None

    def list(self, tenant: str, campaign: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(checklists_table).where(checklists_table.c.tenant == tenant)
        if campaign is not None:
            query = query.where(checklists_table.c.campaign == campaign)
        query = query.order_by(checklists_table.c.campaign.is_not(None), checklists_table.c.campaign)
        with self.engine.connect() as conn:
            return [self._checklist(row) for row in conn.execute(query).mappings()]

    def for_call(self, tenant: str, campaign: str | None) -> dict[str, Any] | None:
        """The checklist a call of ``campaign`` follows: its campaign's, else the tenant's for all."""
        with self.engine.connect() as conn:
            rows = {row["campaign"]: row for row in conn.execute(sa.select(checklists_table).where(
                checklists_table.c.tenant == tenant,
                sa.or_(checklists_table.c.campaign.is_(None), checklists_table.c.campaign == campaign)
                if campaign is not None else checklists_table.c.campaign.is_(None))).mappings()}
        row = rows.get(campaign) if campaign is not None and campaign in rows else rows.get(None)
        return self._checklist(row) if row else None

    # --- call scores --------------------------------------------------------------------------

    def save_score(self, call: dict[str, Any], checklist: dict[str, Any], result: dict[str, Any]) -> None:
        """Store a call's score (once; an existing one is replaced, overrides dropped)."""
        values = dict(tenant=call["tenant"], agent=call.get("agent"), team=call.get("team"),
                      campaign=call.get("campaign"), checklist_id=checklist["id"],
                      checklist_version=checklist["version"], started_at=call["started_at"],
                      score=result["score"], items=result["items"], scored_at=utcnow())
        with self.engine.begin() as conn:
            conn.execute(call_quality_table.delete().where(call_quality_table.c.call_id == call["call_id"]))
            conn.execute(call_quality_table.insert().values(call_id=call["call_id"], **values))

    def quality_of(self, call_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(call_quality_table).where(
                call_quality_table.c.call_id == call_id)).mappings().first()
        if row is None:
            return None
        return {"score": row["score"], "checklist_id": row["checklist_id"],
                "checklist_version": row["checklist_version"], "scored_at": _iso(row["scored_at"]),
                "items": [{key: item.get(key) for key in ("item_id", "label", "required", "passed", "method",
                                                          "evidence", "override")} for item in row["items"]]}

    def override(self, call_id: str, item_id: str, passed: bool, by: str, reason: str | None) -> dict[str, Any] | None:
        """Set one item's outcome by hand and recompute the score; None if the call has no score
        or the checklist no such item (KeyError)."""
        with self._lock, self.engine.begin() as conn:
            row = conn.execute(sa.select(call_quality_table).where(
                call_quality_table.c.call_id == call_id)).mappings().first()
            if row is None:
                return None
            items = [dict(item) for item in row["items"]]
            target = next((item for item in items if item["item_id"] == item_id), None)
            if target is None:
                raise KeyError(item_id)
            target["override"] = {"passed": passed, "by": by, "at": _iso(utcnow()), "reason": reason}
            outcome = {item["item_id"]: (item["override"]["passed"] if item.get("override") else item["passed"])
                       for item in items}
            weighted = [Item(id=item["item_id"], label=item["label"], weight=item.get("weight", 1.0)) for item in items]
            conn.execute(call_quality_table.update().where(call_quality_table.c.call_id == call_id)
                         .values(items=items, score=score(weighted, outcome)))
        return self.quality_of(call_id)

    def aggregate(self, tenant: str, by: str, *, start: datetime | None = None, end: datetime | None = None,
                  team: str | None = None, campaign: str | None = None, agent: str | None = None) -> list[dict[str, Any]]:
        """Scores grouped ``by`` "agent" or "campaign" over calls started in [start, end): calls,
        mean / min / max score, and each item's pass rate (overrides count as decided)."""
        table = call_quality_table
        query = sa.select(table.c.agent, table.c.campaign, table.c.score, table.c["items"]).where(table.c.tenant == tenant)
        if start is not None:
            query = query.where(table.c.started_at >= start)
        if end is not None:
            query = query.where(table.c.started_at < end)
        if team is not None:
            query = query.where(sa.or_(table.c.team == team, table.c.team.is_(None)))
        for column, value in ((table.c.campaign, campaign), (table.c.agent, agent)):
            if value is not None:
                query = query.where(column == value)
        groups: dict[str | None, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                key = row[by]
                group = groups.setdefault(key, {by: key, "calls": 0, "scores": [], "items": {}})
                group["calls"] += 1
                group["scores"].append(row["score"])
                for item in row["items"]:
                    passed = item["override"]["passed"] if item.get("override") else item["passed"]
                    tally = group["items"].setdefault(item["item_id"], {"item_id": item["item_id"],
                                                                         "label": item["label"], "passed": 0, "calls": 0})
                    tally["calls"] += 1
                    tally["passed"] += int(bool(passed))
        out = []
        for group in groups.values():
            scores = group.pop("scores")
            group["mean_score"] = round(sum(scores) / len(scores), 1)
            group["min_score"], group["max_score"] = min(scores), max(scores)
            group["items"] = [{**tally, "pass_rate": round(tally["passed"] / tally["calls"], 3)}
                              for tally in group["items"].values()]
            out.append(group)
        return sorted(out, key=lambda g: (g[by] is None, g[by] or ""))

    def erase(self, call_ids: list[str]) -> int:
        if not call_ids:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(call_quality_table.delete().where(call_quality_table.c.call_id.in_(call_ids))).rowcount


def checklist_items(checklist: dict[str, Any]) -> tuple[Item, ...]:
    return tuple(Item.from_dict(item) for item in checklist["items"])


def meaning_threshold(checklist: dict[str, Any]) -> float:
    value = checklist.get("meaning_threshold")
    return DEFAULT_MEANING_THRESHOLD if value is None else float(value)

