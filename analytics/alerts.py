"""Supervisors' alert rules and the watch that applies them to one live call.

A rule belongs to a tenant, and to one campaign or (campaign None) to all the tenant's calls.
Kinds and their ``params``:

- ``sentiment`` ``{"count": N}``: the customer's last N final utterances all negative (their
  ``sentiment.label``); fires once per run of negative utterances;
- ``phrase`` ``{"phrases": [...], "speaker": "customer"|"agent"|"any"}``: one of the phrases said
  (see ``analytics.phrases``); fires once per phrase and call;
- ``silence`` ``{"seconds": S}``: nobody spoke for S seconds (a hold, dead air); fires once per
  silent stretch while it lasts (the clock). Audio that arrived faster than real time never
  lets the clock run that long: for a call where the rule never fired, the silences of its
  timeline (both channels' utterances merged) are reported when it ends. (Not on each final: the
  channels are transcribed apart, so one channel's utterance can arrive before the other's
  earlier one, and a gap seen then may be filled a moment later.)
- ``duration`` ``{"seconds": T}``: the call has lasted T seconds; fires once;
- ``overtalk`` ``{"seconds": X}``: the agent has spoken over the customer for X seconds in all
  (overlap of both channels' utterances); fires once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

import sqlalchemy as sa

from storage import UtcDateTime, ensure_schema

from .phrases import PhraseMatcher, fold

KINDS = ("sentiment", "phrase", "silence", "duration", "overtalk")
SPEAKERS = ("customer", "agent", "any")
MAX_PHRASES = 200
MAX_PHRASE_CHARS = 200
BREATH_S = 1.0  # a pause shorter than this is part of speaking, not silence

metadata = sa.MetaData()

alert_rules_table = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("rule_id", sa.String(40), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False, index=True),
    sa.Column("campaign", sa.String(64), nullable=True),  # None: every call of the tenant
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("true")),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)


class RuleError(ValueError):
    """A rule that cannot be stored; ``code`` is part of the API."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _positive_number(params: dict, key: str, kind: str, maximum: float) -> float:
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= maximum:
        raise RuleError("bad_params", f"a {kind} rule needs params.{key}, a number above 0 and at most {maximum:g}")
    return float(value)


def validate_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The params of a rule of ``kind``, checked and reduced to what the kind reads."""
    if kind not in KINDS:
        raise RuleError("bad_kind", f"kind must be one of {', '.join(KINDS)}")
    if not isinstance(params, dict):
        raise RuleError("bad_params", "params must be an object")
    if kind == "sentiment":
        count = _positive_number(params, "count", kind, 50)
        if count != int(count):
            raise RuleError("bad_params", "params.count must be a whole number of utterances")
        return {"count": int(count)}
    if kind == "phrase":
        phrases = params.get("phrases")
        if not isinstance(phrases, list) or not phrases or len(phrases) > MAX_PHRASES:
            raise RuleError("bad_params", f"a phrase rule needs params.phrases, a list of 1 to {MAX_PHRASES} phrases")
        cleaned = []
        for phrase in phrases:
            if not isinstance(phrase, str) or not phrase.strip() or len(phrase) > MAX_PHRASE_CHARS or "\x00" in phrase:
                raise RuleError("bad_params", f"each phrase is a text of 1 to {MAX_PHRASE_CHARS} characters")
            if not PhraseMatcher([phrase]).phrases:
                raise RuleError("bad_params", f"the phrase {phrase!r} has no letters or digits")
            cleaned.append(phrase.strip())
        speaker = params.get("speaker", "any")
        if speaker not in SPEAKERS:
            raise RuleError("bad_params", f"params.speaker must be one of {', '.join(SPEAKERS)}")
        return {"phrases": cleaned, "speaker": speaker}
    # silence, duration, overtalk: a number of seconds (up to a day)
    return {"seconds": _positive_number(params, "seconds", kind, 86_400)}


@dataclass(frozen=True)
class AlertRule:
    rule_id: str
    tenant: str
    campaign: str | None
    kind: str
    title: str
    params: dict[str, Any]
    enabled: bool = True
    created_by: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    def applies_to(self, campaign: str | None) -> bool:
        return self.enabled and (self.campaign is None or self.campaign == campaign)

    def as_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "campaign": self.campaign, "kind": self.kind, "title": self.title,
                "params": self.params, "enabled": self.enabled, "created_by": self.created_by,
                "created_at": self.created_at, "updated_at": self.updated_at}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds") if moment is not None else None


class AlertRules:
    """The alert rules of every tenant (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        ensure_schema(engine, metadata)

    @staticmethod
    def _rule(row) -> AlertRule:
        return AlertRule(rule_id=row["rule_id"], tenant=row["tenant"], campaign=row["campaign"], kind=row["kind"],
                         title=row["title"], params=row["params"], enabled=bool(row["enabled"]),
                         created_by=row["created_by"], created_at=_iso(row["created_at"]),
                         updated_at=_iso(row["updated_at"]))

    def list(self, tenant: str, campaign: str | None = None, *, applicable: bool = False) -> list[AlertRule]:
        """The tenant's rules (oldest first); with ``campaign``, that campaign's only, or with
        ``applicable`` those that apply to a call of that campaign (its own and the tenant-wide ones)."""
        table = alert_rules_table
        query = sa.select(table).where(table.c.tenant == tenant).order_by(table.c.created_at, table.c.rule_id)
        if applicable:
            query = query.where(sa.or_(table.c.campaign.is_(None), table.c.campaign == campaign))
        elif campaign is not None:
            query = query.where(table.c.campaign == campaign)
        with self.engine.connect() as conn:
            rules = [self._rule(row) for row in conn.execute(query).mappings()]
        return [rule for rule in rules if rule.enabled] if applicable else rules

    def get(self, tenant: str, rule_id: str) -> AlertRule | None:
        table = alert_rules_table
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.tenant == tenant, table.c.rule_id == rule_id)
                               ).mappings().first()
        return self._rule(row) if row else None

    def create(self, tenant: str, kind: str, title: str, params: dict[str, Any], *, campaign: str | None = None,
               enabled: bool = True, created_by: str | None = None) -> AlertRule:
        params = validate_params(kind, params)
        title = _title(title)
        now = datetime.now(timezone.utc)
        rule_id = f"rule-{uuid.uuid4().hex[:12]}"
        with self.engine.begin() as conn:
            conn.execute(alert_rules_table.insert().values(
                rule_id=rule_id, tenant=tenant, campaign=campaign, kind=kind, title=title, params=params,
                enabled=enabled, created_by=created_by, created_at=now, updated_at=now))
        return self.get(tenant, rule_id)

    def update(self, tenant: str, rule_id: str, changes: dict[str, Any]) -> AlertRule | None:
        """Change a rule's title, campaign, params or enabled (its kind stays); None if missing."""
        rule = self.get(tenant, rule_id)
        if rule is None:
            return None
        values: dict[str, Any] = {}
        if "title" in changes:
            values["title"] = _title(changes["title"])
        if "params" in changes:
            values["params"] = validate_params(rule.kind, changes["params"])
        if "campaign" in changes:
            values["campaign"] = changes["campaign"]
        if "enabled" in changes:
            values["enabled"] = bool(changes["enabled"])
        values["updated_at"] = datetime.now(timezone.utc)
        table = alert_rules_table
        with self.engine.begin() as conn:
            conn.execute(table.update().where(table.c.tenant == tenant, table.c.rule_id == rule_id).values(**values))
        return self.get(tenant, rule_id)

    def delete(self, tenant: str, rule_id: str) -> bool:
        table = alert_rules_table
        with self.engine.begin() as conn:
            return conn.execute(table.delete().where(table.c.tenant == tenant, table.c.rule_id == rule_id)).rowcount > 0


def _title(title: Any) -> str:
    if not isinstance(title, str) or not title.strip() or len(title) > 200 or "\x00" in title:
        raise RuleError("bad_title", "title is a text of 1 to 200 characters")
    return title.strip()


@dataclass
class Alert:
    """An alert a watch raised: the ``alert`` event's fields but the call's id and the time."""

    rule_id: str
    kind: str
    title: str
    detail: str
    segment_id: str | None = None
    alert_id: str = field(default_factory=lambda: f"alert-{uuid.uuid4().hex[:12]}")

    def event(self, call_id: str, at: str) -> dict[str, Any]:
        return {"type": "alert", "call_id": call_id, "alert_id": self.alert_id, "rule_id": self.rule_id,
                "kind": self.kind, "title": self.title, "detail": self.detail, "segment_id": self.segment_id,
                "at": at}


def overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


class AlertWatch:
    """The rules of one live call applied to its events as they come (``observe``) and to the
    clock (``tick``, for silence and duration). Times: ``now`` in seconds since the call started
    (wall clock); transcript ``start``/``end`` in seconds of the call's audio."""

    def __init__(self, rules: Iterable[AlertRule]):
        self.rules: list[AlertRule] = []
        self._matchers: dict[str, PhraseMatcher] = {}
        self._negative_run = 0
        self._sentiment_fired: set[str] = set()  # rules fired in the current negative run
        self._phrases_fired: set[tuple[str, str]] = set()  # (rule, phrase)
        self._fired_once: set[str] = set()  # duration and overtalk rules
        self._silence_fired: dict[str, float] = {}  # rule → the speech end its silence began at
        self.speech_end = 0.0  # audio time the last utterance ended
        self.last_speech_clock = 0.0  # wall time (since the start) speech was last heard
        self.speaking: set[str] = set()  # channels with an utterance in progress (partials seen)
        self.audio_time = 0.0
        self.segments: dict[str, list[tuple[float, float]]] = {"customer": [], "agent": []}
        self._after: dict[tuple[float, float], str | None] = {}  # an utterance's span → its segment id
        self.overtalk_s = 0.0
        self.set_rules(rules)

    def set_rules(self, rules: Iterable[AlertRule]) -> None:
        self.rules = [rule for rule in rules if rule.enabled]
        self._matchers = {rule.rule_id: PhraseMatcher(rule.params["phrases"])
                          for rule in self.rules if rule.kind == "phrase"}

    def _of(self, kind: str) -> list[AlertRule]:
        return [rule for rule in self.rules if rule.kind == kind]

    def observe(self, event: dict[str, Any], now: float) -> list[Alert]:
        kind = event.get("type")
        if kind == "transcript.partial":
            self.speaking.add(event.get("speaker"))
            self.last_speech_clock = now
            return []
        if kind != "transcript.final":
            return []
        self.speaking.discard(event.get("speaker"))
        self.last_speech_clock = now
        alerts: list[Alert] = []
        speaker = event.get("speaker")
        start, end = float(event.get("start") or 0.0), float(event.get("end") or 0.0)
        segment_id = event.get("segment_id")
        self._after[(start, end)] = segment_id
        alerts += self._overtalk(speaker, (start, end), segment_id)
        self.speech_end = max(self.speech_end, end)
        self.audio_time = max(self.audio_time, end)
        alerts += self._sentiment(event, segment_id)
        alerts += self._phrases(event, segment_id)
        alerts += self.tick(now)
        return alerts

    def gaps(self) -> list[tuple[float, str | None]]:
        """The silences of the timeline so far, both channels merged: (seconds, the segment id of
        the utterance that ended each), from the call's start on."""
        spans = sorted(span for spans in self.segments.values() for span in spans)
        found, reached = [], 0.0
        for start, end in spans:
            if start > reached:
                found.append((start - reached, self._after.get((start, end))))
            reached = max(reached, end)
        return found

    @property
    def silence_s(self) -> float:
        """Seconds of the timeline so far without speech, in gaps longer than a breath (1 s)."""
        return sum(gap for gap, _ in self.gaps() if gap > BREATH_S)

    def finish(self) -> list[Alert]:
        """At the call's end: the timeline's silences for the silence rules the clock never fired."""
        alerts = []
        for rule in self._of("silence"):
            if rule.rule_id in self._silence_fired:
                continue
            for gap, segment_id in self.gaps():
                if gap >= rule.params["seconds"]:
                    alerts.append(Alert(rule.rule_id, "silence", rule.title,
                                        f"{gap:.0f} s without speech before this utterance", segment_id))
        return alerts

    def _overtalk(self, speaker: str, span: tuple[float, float], segment_id: str | None) -> list[Alert]:
        other = "customer" if speaker == "agent" else "agent"
        if speaker not in self.segments:
            return []
        self.overtalk_s += sum(overlap(span, seen) for seen in self.segments[other])
        self.segments[speaker].append(span)
        alerts = []
        for rule in self._of("overtalk"):
            if rule.rule_id not in self._fired_once and self.overtalk_s >= rule.params["seconds"]:
                self._fired_once.add(rule.rule_id)
                alerts.append(Alert(rule.rule_id, "overtalk", rule.title,
                                    f"agent and customer spoke together for {self.overtalk_s:.1f} s", segment_id))
        return alerts

    def _sentiment(self, event: dict[str, Any], segment_id: str | None) -> list[Alert]:
        sentiment = event.get("sentiment")
        if event.get("speaker") != "customer" or not isinstance(sentiment, dict):
            return []
        if sentiment.get("label") != "negative":
            self._negative_run = 0
            self._sentiment_fired.clear()
            return []
        self._negative_run += 1
        alerts = []
        for rule in self._of("sentiment"):
            if rule.rule_id not in self._sentiment_fired and self._negative_run >= rule.params["count"]:
                self._sentiment_fired.add(rule.rule_id)
                alerts.append(Alert(rule.rule_id, "sentiment", rule.title,
                                    f"{self._negative_run} negative customer utterances in a row", segment_id))
        return alerts

    def _phrases(self, event: dict[str, Any], segment_id: str | None) -> list[Alert]:
        alerts = []
        folded = None
        for rule in self._of("phrase"):
            if rule.params.get("speaker", "any") not in ("any", event.get("speaker")):
                continue
            if folded is None:
                folded = fold(event.get("text") or "")
            for phrase in self._matchers[rule.rule_id].find_folded(folded):
                if (rule.rule_id, phrase) not in self._phrases_fired:
                    self._phrases_fired.add((rule.rule_id, phrase))
                    alerts.append(Alert(rule.rule_id, "phrase", rule.title,
                                        f"{event.get('speaker')}: « {phrase} »", segment_id))
        return alerts

    def silence_now(self, now: float) -> float:
        """Seconds since anybody was last heard (0 while someone is speaking)."""
        return 0.0 if self.speaking else max(0.0, now - self.last_speech_clock)

    def tick(self, now: float) -> list[Alert]:
        """The clock's rules at ``now`` (seconds since the call started)."""
        alerts = []
        elapsed = max(now, self.audio_time)
        for rule in self._of("duration"):
            if rule.rule_id not in self._fired_once and elapsed >= rule.params["seconds"]:
                self._fired_once.add(rule.rule_id)
                alerts.append(Alert(rule.rule_id, "duration", rule.title, f"call longer than {rule.params['seconds']:g} s"))
        silent = self.silence_now(now)
        for rule in self._of("silence"):
            if silent >= rule.params["seconds"] and self._silence_fired.get(rule.rule_id) != self.speech_end:
                self._silence_fired[rule.rule_id] = self.speech_end
                alerts.append(Alert(rule.rule_id, "silence", rule.title, f"no speech for {silent:.0f} s"))
        return alerts
