"""The supervisors' dashboard: each chart's numbers, as named columns and rows, from the per-call
tables of ``analytics.stats`` (never from the events themselves, so 100,000 calls stay fast).

Every chart takes the same ``Filters``: a tenant, a time range on the call's start, and optionally
a team and a campaign. Days and hours are UTC. Knowledge gaps belong to the knowledge base: their
counts come through a function ``assistant`` passes in (this package does not import it).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable

import sqlalchemy as sa

from .quality import QualityStore
from .stats import SENTIMENTS, call_alerts_table, call_stats_table, call_suggestions_table

# (tenant, start, end, campaign) → [(day, gaps opened)]: the knowledge base's gap store.
GapsOpened = Callable[[str, datetime, datetime, str | None], list[tuple[str, int]]]


@dataclass(frozen=True)
class Filters:
    """Which calls a chart counts: the tenant's calls started in [start, end); with ``team``,
    that team's and those no agent had taken (as a supervisor with a team sees them, see
    ``assistant.api.calls.may_see``); with ``campaign``, that campaign's."""

    tenant: str
    start: datetime
    end: datetime
    team: str | None = None
    campaign: str | None = None

    def where(self, table: sa.Table) -> list:
        clauses = [table.c.tenant == self.tenant, table.c.started_at >= self.start, table.c.started_at < self.end]
        if self.team is not None:
            clauses.append(sa.or_(table.c.team == self.team, table.c.team.is_(None)))
        if self.campaign is not None:
            clauses.append(table.c.campaign == self.campaign)
        return clauses


@dataclass
class Chart:
    name: str
    columns: list[str]
    rows: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {"chart": self.name, "columns": self.columns, "rows": self.rows}

    def as_csv(self) -> str:
        """The same rows as CSV: a header of the columns, numbers as JSON writes them, empty for null."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(["" if row[c] is None else ("true" if row[c] is True else "false" if row[c] is False
                                                         else row[c]) for c in self.columns])
        return out.getvalue()


def _ratio(part: float | None, whole: float | None, digits: int = 4) -> float | None:
    return round(part / whole, digits) if part is not None and whole else None


def _r(value: float | None, digits: int = 3) -> float | None:
    return round(float(value), digits) if value is not None else None


class Dashboard:
    """The charts of ``/supervisor/analytics`` on the database of ``analytics.stats``."""

    def __init__(self, engine: sa.Engine, gaps_opened: GapsOpened | None = None,
                 quality: QualityStore | None = None):
        self.engine = engine
        self.gaps_opened = gaps_opened
        self.quality = quality  # the calls' quality scores (``analytics.quality``)
        self.charts: dict[str, Callable[[Filters], Chart]] = {
            "totals": self.totals,
            "calls_per_hour": self.calls_per_hour,
            "calls_per_day": self.calls_per_day,
            "handle_time": self.handle_time,
            "talk_listen": self.talk_listen,
            "silence_share": self.silence_share,
            "language_mix": self.language_mix,
            "sentiment": self.sentiment,
            "sentiment_trend": self.sentiment_trend,
            "top_articles": self.top_articles,
            "acceptance_by_agent": self.acceptance_by_agent,
            "acceptance_by_article": self.acceptance_by_article,
            "knowledge_gaps": self.knowledge_gaps,
            "alerts_per_rule": self.alerts_per_rule,
            "quality_by_agent": self.quality_by_agent,
            "compute": self.compute,
        }

    def chart(self, name: str, filters: Filters) -> Chart:
        """The chart ``name`` (a key of ``charts``; KeyError otherwise)."""
        return self.charts[name](filters)

    # -- helpers ---------------------------------------------------------------------------

    def _day(self, column):
        """The UTC day of a timestamp column (a date on PostgreSQL, "YYYY-MM-DD" text on SQLite;
        ``_rows`` turns dates into that text): a cast, much cheaper per row than to_char."""
        if self.engine.dialect.name == "postgresql":
            return sa.cast(sa.func.timezone("UTC", column), sa.Date)
        return sa.func.strftime("%Y-%m-%d", column)  # SQLite stores UTC text

    def _hour(self, column):
        if self.engine.dialect.name == "postgresql":
            return sa.cast(sa.extract("hour", sa.func.timezone("UTC", column)), sa.Integer)
        return sa.cast(sa.func.strftime("%H", column), sa.Integer)

    def _rows(self, query) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = [dict(row) for row in conn.execute(query).mappings()]
        for row in rows:
            if isinstance(row.get("day"), date):
                row["day"] = row["day"].isoformat()
        return rows

    # -- calls -----------------------------------------------------------------------------

    def totals(self, f: Filters) -> Chart:
        """One row: calls, ended calls, mean handle time, suggestions and the ASR compute summed."""
        t = call_stats_table
        row = self._rows(sa.select(
            sa.func.count().label("calls"), sa.func.count(t.c.duration_s).label("ended"),
            sa.func.avg(t.c.duration_s).label("avg_handle_s"),
            sa.func.coalesce(sa.func.sum(t.c.suggestions_shown), 0).label("suggestions_shown"),
            sa.func.coalesce(sa.func.sum(t.c.suggestions_used), 0).label("suggestions_used"),
            sa.func.coalesce(sa.func.sum(t.c.alerts), 0).label("alerts"),
            sa.func.coalesce(sa.func.sum(t.c.asr_encoder_s + t.c.asr_decoder_s), 0).label("asr_s"),
            sa.func.coalesce(sa.func.sum(t.c.energy_wh), 0).label("energy_wh"),
        ).where(*f.where(t)))[0]
        row = {"calls": int(row["calls"]), "ended": int(row["ended"]), "avg_handle_s": _r(row["avg_handle_s"], 1),
               "suggestions_shown": int(row["suggestions_shown"]), "suggestions_used": int(row["suggestions_used"]),
               "alerts": int(row["alerts"]), "asr_s": _r(row["asr_s"]), "energy_wh": _r(row["energy_wh"], 4)}
        return Chart("totals", list(row), [row])

    def calls_per_hour(self, f: Filters) -> Chart:
        """Calls started in each hour of the day (UTC), all days of the range together; 24 rows."""
        t = call_stats_table
        hour = self._hour(t.c.started_at).label("hour")
        counts = {int(r["hour"]): int(r["calls"]) for r in self._rows(
            sa.select(hour, sa.func.count().label("calls")).where(*f.where(t)).group_by(hour))}
        return Chart("calls_per_hour", ["hour", "calls"], [{"hour": h, "calls": counts.get(h, 0)} for h in range(24)])

    def calls_per_day(self, f: Filters) -> Chart:
        t = call_stats_table
        day = self._day(t.c.started_at).label("day")
        rows = self._rows(sa.select(day, sa.func.count().label("calls")).where(*f.where(t)).group_by(day).order_by(day))
        return Chart("calls_per_day", ["day", "calls"], [{"day": r["day"], "calls": int(r["calls"])} for r in rows])

    def handle_time(self, f: Filters) -> Chart:
        """Mean duration of the calls that ended, per day (seconds)."""
        t = call_stats_table
        day = self._day(t.c.started_at).label("day")
        rows = self._rows(sa.select(day, sa.func.count().label("calls"), sa.func.avg(t.c.duration_s).label("avg"))
                          .where(*f.where(t), t.c.duration_s.is_not(None)).group_by(day).order_by(day))
        return Chart("handle_time", ["day", "calls", "avg_handle_s"],
                     [{"day": r["day"], "calls": int(r["calls"]), "avg_handle_s": _r(r["avg"], 1)} for r in rows])

    def talk_listen(self, f: Filters) -> Chart:
        """Per agent: seconds the agent spoke, the customer spoke, and talk ÷ listen."""
        t = call_stats_table
        rows = self._rows(sa.select(t.c.agent, sa.func.count().label("calls"),
                                    sa.func.sum(t.c.agent_speech_s).label("talk"),
                                    sa.func.sum(t.c.customer_speech_s).label("listen"))
                          .where(*f.where(t), t.c.agent.is_not(None)).group_by(t.c.agent).order_by(t.c.agent))
        return Chart("talk_listen", ["agent", "calls", "talk_s", "listen_s", "talk_listen_ratio"],
                     [{"agent": r["agent"], "calls": int(r["calls"]), "talk_s": _r(r["talk"]),
                       "listen_s": _r(r["listen"]), "talk_listen_ratio": _ratio(r["talk"], r["listen"], 3)}
                      for r in rows])

    def silence_share(self, f: Filters) -> Chart:
        """Per day: the share of ended calls' time in which nobody spoke, and in which both did."""
        t = call_stats_table
        day = self._day(t.c.started_at).label("day")
        rows = self._rows(sa.select(day, sa.func.sum(t.c.duration_s).label("duration"),
                                    sa.func.sum(t.c.silence_s).label("silence"),
                                    sa.func.sum(t.c.overtalk_s).label("overtalk"))
                          .where(*f.where(t), t.c.duration_s.is_not(None)).group_by(day).order_by(day))
        return Chart("silence_share", ["day", "duration_s", "silence_s", "silence_share", "overtalk_share"],
                     [{"day": r["day"], "duration_s": _r(r["duration"]), "silence_s": _r(r["silence"]),
                       "silence_share": _ratio(r["silence"], r["duration"]),
                       "overtalk_share": _ratio(r["overtalk"], r["duration"])} for r in rows])

    def language_mix(self, f: Filters) -> Chart:
        """Calls per main language (the one spoken longest); "" for calls with no speech."""
        t = call_stats_table
        language = sa.func.coalesce(t.c.main_language, "").label("language")
        rows = self._rows(sa.select(language, sa.func.count().label("calls")).where(*f.where(t))
                          .group_by(language).order_by(sa.func.count().desc(), language))
        return Chart("language_mix", ["language", "calls"],
                     [{"language": r["language"], "calls": int(r["calls"])} for r in rows])

    # -- sentiment -------------------------------------------------------------------------

    def sentiment(self, f: Filters) -> Chart:
        """Calls per customer sentiment (the call's label), and customer utterances per label."""
        t = call_stats_table
        row = self._rows(sa.select(
            *(sa.func.coalesce(sa.func.sum(sa.case((t.c.sentiment == label, 1), else_=0)), 0).label(f"calls_{label}")
              for label in SENTIMENTS),
            *(sa.func.coalesce(sa.func.sum(t.c[f"{label}_utterances"]), 0).label(label) for label in SENTIMENTS))
            .where(*f.where(t)))[0]
        return Chart("sentiment", ["sentiment", "calls", "utterances"],
                     [{"sentiment": label, "calls": int(row[f"calls_{label}"]), "utterances": int(row[label])}
                      for label in SENTIMENTS])

    def sentiment_trend(self, f: Filters) -> Chart:
        """Per day: calls per customer sentiment label and the mean signed score (-1..1)."""
        t = call_stats_table
        day = self._day(t.c.started_at).label("day")
        rows = self._rows(sa.select(
            day, *(sa.func.sum(sa.case((t.c.sentiment == label, 1), else_=0)).label(label) for label in SENTIMENTS),
            sa.func.avg(t.c.sentiment_score).label("mean"))
            .where(*f.where(t), t.c.sentiment.is_not(None)).group_by(day).order_by(day))
        return Chart("sentiment_trend", ["day", *SENTIMENTS, "mean_score"],
                     [{"day": r["day"], **{label: int(r[label]) for label in SENTIMENTS},
                       "mean_score": _r(r["mean"], 4)} for r in rows])

    # -- suggestions -----------------------------------------------------------------------

    def _acceptance(self, f: Filters, key: list, limit: int | None, order_by_shown: bool):
        """Suggestions grouped by ``key[0]``: shown and each action, the most shown first when
        ``order_by_shown``."""
        s = call_suggestions_table
        counts = [sa.func.sum(sa.case((s.c.action == action, 1), else_=0)).label(action)
                  for action in ("used", "edited", "dismissed")]
        query = sa.select(*key, sa.func.count().label("shown"), *counts).where(*f.where(s)).group_by(key[0])
        query = query.order_by(sa.func.count().desc(), key[0]) if order_by_shown else query.order_by(key[0])
        if limit:
            query = query.limit(limit)
        return self._rows(query)

    @staticmethod
    def _acceptance_row(r: dict[str, Any]) -> dict[str, Any]:
        shown, used, edited, dismissed = (int(r[k]) for k in ("shown", "used", "edited", "dismissed"))
        return {"shown": shown, "used": used, "edited": edited, "dismissed": dismissed,
                "no_action": shown - used - edited - dismissed, "acceptance": _ratio(used + edited, shown)}

    def top_articles(self, f: Filters) -> Chart:
        """The 10 articles suggested most, how often, and how often the agent used them."""
        s = call_suggestions_table
        rows = self._acceptance(f, [s.c.article_id], 10, True)
        titles = self._titles(f.tenant, [r["article_id"] for r in rows])
        return Chart("top_articles", ["article_id", "title", "suggested", "used"],
                     [{"article_id": r["article_id"], "title": titles.get(r["article_id"]), "suggested": int(r["shown"]),
                       "used": int(r["used"])} for r in rows])

    def _titles(self, tenant: str, article_ids: list[str]) -> dict[str, str | None]:
        """Each article's title as it was last suggested (titles change; the id does not): one
        index probe per article (``ix_call_suggestions_article``), all in one query of one row."""
        if not article_ids:
            return {}
        s = call_suggestions_table
        latest = [sa.select(s.c.title).where(s.c.tenant == tenant, s.c.article_id == article_id)
                  .order_by(s.c.started_at.desc()).limit(1).scalar_subquery().label(f"t{i}")
                  for i, article_id in enumerate(article_ids)]
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(*latest)).one()
        return dict(zip(article_ids, row))

    def acceptance_by_agent(self, f: Filters) -> Chart:
        """Per agent: suggestions shown and what the agent did (the last action on each). From
        the calls' rows (their counts are those of ``call_suggestions``): one row per call to add up."""
        t = call_stats_table
        rows = self._rows(sa.select(t.c.agent, sa.func.sum(t.c.suggestions_shown).label("shown"),
                                    sa.func.sum(t.c.suggestions_used).label("used"),
                                    sa.func.sum(t.c.suggestions_edited).label("edited"),
                                    sa.func.sum(t.c.suggestions_dismissed).label("dismissed"))
                          .where(*f.where(t), t.c.suggestions_shown > 0).group_by(t.c.agent).order_by(t.c.agent))
        return Chart("acceptance_by_agent", ["agent", "shown", "used", "edited", "dismissed", "no_action", "acceptance"],
                     [{"agent": r["agent"], **self._acceptance_row(r)} for r in rows])

    def acceptance_by_article(self, f: Filters) -> Chart:
        """Per article (the 20 suggested most): shown, used, edited, dismissed."""
        s = call_suggestions_table
        rows = self._acceptance(f, [s.c.article_id], 20, True)
        titles = self._titles(f.tenant, [r["article_id"] for r in rows])
        return Chart("acceptance_by_article",
                     ["article_id", "title", "shown", "used", "edited", "dismissed", "no_action", "acceptance"],
                     [{"article_id": r["article_id"], "title": titles.get(r["article_id"]), **self._acceptance_row(r)}
                      for r in rows])

    def knowledge_gaps(self, f: Filters) -> Chart:
        """Knowledge gaps first seen per day (the whole tenant's: gaps are not per team)."""
        opened = self.gaps_opened(f.tenant, f.start, f.end, f.campaign) if self.gaps_opened else []
        return Chart("knowledge_gaps", ["day", "opened"], [{"day": day, "opened": int(n)} for day, n in opened])

    # -- alerts, quality, compute ----------------------------------------------------------

    def alerts_per_rule(self, f: Filters) -> Chart:
        a = call_alerts_table
        rows = self._rows(sa.select(a.c.rule_id, a.c.kind, sa.func.max(a.c.title).label("title"),
                                    sa.func.count().label("alerts"),
                                    sa.func.sum(sa.case((a.c.acknowledged, 1), else_=0)).label("acknowledged"))
                          .where(*f.where(a)).group_by(a.c.rule_id, a.c.kind)
                          .order_by(sa.func.count().desc(), a.c.rule_id))
        return Chart("alerts_per_rule", ["rule_id", "kind", "title", "alerts", "acknowledged"],
                     [{"rule_id": r["rule_id"], "kind": r["kind"], "title": r["title"], "alerts": int(r["alerts"]),
                       "acknowledged": int(r["acknowledged"])} for r in rows])

    def quality_by_agent(self, f: Filters) -> Chart:
        """Mean quality score per agent (scores as overridden by supervisors)."""
        rows = [] if self.quality is None else self.quality.aggregate(
            f.tenant, "agent", start=f.start, end=f.end, team=f.team, campaign=f.campaign)
        return Chart("quality_by_agent", ["agent", "calls", "mean_score"],
                     [{"agent": r["agent"], "calls": r["calls"], "mean_score": r["mean_score"]} for r in rows])

    def compute(self, f: Filters) -> Chart:
        """Per day: the speech model's seconds (encoder, decoder) and the energy estimate (Wh)."""
        t = call_stats_table
        day = self._day(t.c.started_at).label("day")
        rows = self._rows(sa.select(day, sa.func.count().label("calls"), sa.func.sum(t.c.asr_encoder_s).label("enc"),
                                    sa.func.sum(t.c.asr_decoder_s).label("dec"), sa.func.sum(t.c.energy_wh).label("wh"))
                          .where(*f.where(t)).group_by(day).order_by(day))
        return Chart("compute", ["day", "calls", "asr_encoder_s", "asr_decoder_s", "asr_s", "energy_wh"],
                     [{"day": r["day"], "calls": int(r["calls"]), "asr_encoder_s": _r(r["enc"]),
                       "asr_decoder_s": _r(r["dec"]), "asr_s": _r((r["enc"] or 0) + (r["dec"] or 0)),
                       "energy_wh": _r(r["wh"], 4)} for r in rows])

