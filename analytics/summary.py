"""Post-call summary without a language model: extractive, in the call's language.

- **Why the customer called**: the customer utterance(s) nearest in meaning to all they said
  (the centroid of their utterances' multilingual vectors), earlier ones slightly preferred,
  quoted as said (already redacted).
- **What was answered, from which articles**: each article suggested, with what the agent did
  (used, edited, dismissed, or only shown).
- **The outcome**: how the call ended, its last exchange, and the customer's sentiment from
  start to end when transcripts carry it.

Stored in ``call_summaries`` with the call's wrap-up (suggested code, and the code the agent or
a supervisor confirmed, by whom, when).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import sqlalchemy as sa

from storage import UtcDateTime, ensure_schema

metadata = sa.MetaData()

call_summaries_table = sa.Table(
    "call_summaries",
    metadata,
    sa.Column("call_id", sa.String(128), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("language", sa.String(8), nullable=True),
    sa.Column("summary", sa.Text, nullable=True),
    sa.Column("detail", sa.JSON, nullable=True),
    sa.Column("wrap_up_suggested", sa.String(64), nullable=True),
    sa.Column("wrap_up_score", sa.Float, nullable=True),
    sa.Column("wrap_up_confirmed", sa.String(64), nullable=True),
    sa.Column("wrap_up_by", sa.String(64), nullable=True),
    sa.Column("wrap_up_at", UtcDateTime(), nullable=True),
    sa.Index("ix_call_summaries_tenant_wrap_up", "tenant", "wrap_up_confirmed", "wrap_up_suggested"),
)

Embed = Callable[[list[str]], np.ndarray]  # texts → L2-normalised vectors (UsemEmbeddings.encode)

# The summary's words, per language (the call's; English for another).
TEMPLATES = {
    "fr": {"reason": "Motif", "answers": "Réponses", "outcome": "Issue", "none": "aucune",
           "used": "utilisée", "edited": "modifiée", "dismissed": "écartée", "shown": "proposée",
           "customer": "client", "agent": "agent", "sentiment": "sentiment client",
           "normal": "appel terminé normalement", "dropped": "connexion perdue",
           "server": "interrompu par le serveur", "error": "interrompu par une erreur de flux",
           "negative": "négatif", "neutral": "neutre", "positive": "positif", "no_reason": "non exprimé"},
    "ar": {"reason": "سبب الاتصال", "answers": "الإجابات", "outcome": "النتيجة", "none": "لا شيء",
           "used": "مستخدمة", "edited": "معدّلة", "dismissed": "متجاهَلة", "shown": "مقترحة",
           "customer": "العميل", "agent": "الوكيل", "sentiment": "مشاعر العميل",
           "normal": "انتهت المكالمة بشكل عادي", "dropped": "انقطع الاتصال",
           "server": "أوقفها الخادم", "error": "توقفت بسبب خطأ في البث",
           "negative": "سلبي", "neutral": "محايد", "positive": "إيجابي", "no_reason": "غير مذكور"},
    "en": {"reason": "Reason", "answers": "Answers", "outcome": "Outcome", "none": "none",
           "used": "used", "edited": "edited", "dismissed": "dismissed", "shown": "shown",
           "customer": "customer", "agent": "agent", "sentiment": "customer sentiment",
           "normal": "call ended normally", "dropped": "connection lost",
           "server": "interrupted by the server", "error": "interrupted by a stream error",
           "negative": "negative", "neutral": "neutral", "positive": "positive", "no_reason": "not stated"},
    "es": {"reason": "Motivo", "answers": "Respuestas", "outcome": "Resultado", "none": "ninguna",
           "used": "usada", "edited": "editada", "dismissed": "descartada", "shown": "propuesta",
           "customer": "cliente", "agent": "agente", "sentiment": "sentimiento del cliente",
           "normal": "llamada terminada normalmente", "dropped": "conexión perdida",
           "server": "interrumpida por el servidor", "error": "interrumpida por un error de flujo",
           "negative": "negativo", "neutral": "neutro", "positive": "positivo", "no_reason": "no expresado"},
    "pt": {"reason": "Motivo", "answers": "Respostas", "outcome": "Resultado", "none": "nenhuma",
           "used": "usada", "edited": "editada", "dismissed": "descartada", "shown": "proposta",
           "customer": "cliente", "agent": "agente", "sentiment": "sentimento do cliente",
           "normal": "chamada terminada normalmente", "dropped": "ligação perdida",
           "server": "interrompida pelo servidor", "error": "interrompida por um erro de fluxo",
           "negative": "negativo", "neutral": "neutro", "positive": "positivo", "no_reason": "não expresso"},
}
_RANK = {"used": 3, "edited": 2, "dismissed": 1, "shown": 0}
QUOTE_MAX = 240


def _quote(text: str, language: str) -> str:
    text = " ".join(text.split())
    if len(text) > QUOTE_MAX:
        text = text[:QUOTE_MAX - 1].rstrip() + "…"
    return f"« {text} »" if language == "fr" else f"«{text}»" if language == "ar" else f"“{text}”"


def end_kind(reason: str | None) -> str:
    if reason in (None, "stop", "end", "hangup", "completed", "close"):
        return "normal"
    if reason == "disconnected":
        return "dropped"
    if reason.startswith("server"):
        return "server"
    return "error" if reason.startswith("error") else "normal"


def call_language(call: dict[str, Any], finals: list[dict[str, Any]]) -> str | None:
    """The language most spoken in the call (seconds of finals), else the one it started with."""
    seconds: dict[str, float] = {}
    for event in finals:
        if event.get("language"):
            span = max(0.0, float(event.get("end") or 0) - float(event.get("start") or 0))
            seconds[event["language"]] = seconds.get(event["language"], 0.0) + span + 1e-3
    return max(seconds, key=seconds.get) if seconds else call.get("language")


def customer_utterances(finals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The customer's finals that say something (3 words or more; all of them if none does)."""
    said = [e for e in finals if e.get("speaker") == "customer" and (e.get("text") or "").strip()]
    longer = [e for e in said if len(e["text"].split()) >= 3]
    return longer or said


def reason_of(utterances: list[dict[str, Any]], embed: Embed | None) -> list[dict[str, Any]]:
    """The most representative customer utterance(s), in the order they were said: the one
    nearest the centroid of all, and the runner-up when the first is short (under 60 characters)."""
    if not utterances:
        return []
    if len(utterances) == 1 or embed is None:
        return utterances[:1]
    vectors = embed([e["text"] for e in utterances])
    centroid = vectors.mean(axis=0)
    centroid /= max(np.linalg.norm(centroid), 1e-9)
    n = len(utterances)
    # Customers state their need early: a small preference for the first half of the call.
    scores = vectors @ centroid + np.array([0.05 if i < max(1, n // 2) else 0.0 for i in range(n)])
    order = list(np.argsort(-scores))
    chosen = order[:1]
    if len(utterances[order[0]]["text"]) < 60 and n > 1:
        chosen.append(order[1])
    return [utterances[i] for i in sorted(chosen)]


def answers_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each article suggested (first source), with the strongest thing the agent did with it."""
    feedback: dict[str, str] = {}
    for event in events:
        if event.get("type") == "suggestion.feedback":
            feedback[event["suggestion_id"]] = event["action"]
    articles: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.get("type") != "suggestion" or not event.get("sources"):
            continue
        source = event["sources"][0]
        key = str(source.get("article_id"))
        action = feedback.get(event["suggestion_id"], "shown")
        if event.get("replaces") and event["replaces"] in feedback:
            action = feedback[event["replaces"]]
        current = articles.get(key)
        if current is None or _RANK[action] > _RANK[current["action"]]:
            articles[key] = {"article_id": source.get("article_id"), "title": source.get("title"), "action": action}
    return sorted(articles.values(), key=lambda a: -_RANK[a["action"]])


def sentiment_path(finals: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The customer's sentiment at the start (first third) and end (last third) of the call."""
    signs = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}
    values = [signs[e["sentiment"]["label"]] for e in finals if e.get("speaker") == "customer"
              and isinstance(e.get("sentiment"), dict) and e["sentiment"].get("label") in signs]
    if not values:
        return None
    third = max(1, len(values) // 3)
    start, end = sum(values[:third]) / third, sum(values[-third:]) / third

    def label(value: float) -> str:
        return "negative" if value < -0.2 else "positive" if value > 0.2 else "neutral"
    return {"start": label(start), "end": label(end), "trend": round(end - start, 3)}


def summarise(call: dict[str, Any], events: list[dict[str, Any]], embed: Embed | None) -> dict[str, Any]:
    """{summary: readable text, detail: {reason, reason_segments, answers, outcome, language}}."""
    finals = sorted((e for e in events if e.get("type") == "transcript.final"),
                    key=lambda e: float(e.get("start") or 0))
    language = call_language(call, finals)
    words = TEMPLATES.get(language or "", TEMPLATES["en"])
    quote_language = language if language in TEMPLATES else "en"
    reasons = reason_of(customer_utterances(finals), embed)
    reason = " … ".join(" ".join(e["text"].split()) for e in reasons) or None
    answers = answers_of(events)
    last = {speaker: next((e["text"] for e in reversed(finals) if e.get("speaker") == speaker
                           and (e.get("text") or "").strip()), None) for speaker in ("customer", "agent")}
    kind = end_kind(call.get("end_reason"))
    sentiment = sentiment_path(finals)
    outcome = {"end_reason": call.get("end_reason"), "ended": kind, "last_customer": last["customer"],
               "last_agent": last["agent"], "sentiment": sentiment}
    lines = [f"{words['reason']} : " if language == "fr" else f"{words['reason']}: "]
    lines[0] += " … ".join(_quote(e["text"], quote_language) for e in reasons) if reasons else words["no_reason"]
    answered = "; ".join(f"{a['title'] or a['article_id']} ({words[a['action']]})" for a in answers)
    lines.append((f"{words['answers']} : " if language == "fr" else f"{words['answers']}: ") + (answered or words["none"]))
    parts = [words[kind]]
    for speaker in ("customer", "agent"):
        if last[speaker]:
            parts.append(f"{words[speaker]} : {_quote(last[speaker], quote_language)}" if language == "fr"
                         else f"{words[speaker]}: {_quote(last[speaker], quote_language)}")
    if sentiment:
        parts.append(f"{words['sentiment']} {words[sentiment['start']]} → {words[sentiment['end']]}")
    lines.append((f"{words['outcome']} : " if language == "fr" else f"{words['outcome']}: ") + " ; ".join(parts))
    return {"summary": "\n".join(lines),
            "detail": {"reason": reason, "reason_segments": [e.get("segment_id") for e in reasons],
                       "answers": answers, "outcome": outcome, "language": language}}


class CallSummaries:
    """The ``call_summaries`` table: a call's summary and wrap-up."""

    table = call_summaries_table

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        ensure_schema(engine, metadata)

    def get(self, call_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(call_summaries_table)
                               .where(call_summaries_table.c.call_id == call_id)).mappings().first()
        return dict(row) if row else None

    def save_summary(self, call_id: str, tenant: str, summary: dict[str, Any], suggested: str | None,
                     score: float | None) -> None:
        """Write (or rewrite) the summary and suggested code; a confirmed code is kept."""
        t = call_summaries_table
        values = {"tenant": tenant, "language": summary["detail"]["language"], "summary": summary["summary"],
                  "detail": summary["detail"], "wrap_up_suggested": suggested, "wrap_up_score": score}
        with self.engine.begin() as conn:
            if not conn.execute(t.update().where(t.c.call_id == call_id).values(**values)).rowcount:
                conn.execute(t.insert().values(call_id=call_id, **values))

    def confirm(self, call_id: str, tenant: str, code: str, by: str, at) -> None:
        t = call_summaries_table
        values = {"wrap_up_confirmed": code, "wrap_up_by": by, "wrap_up_at": at}
        with self.engine.begin() as conn:
            if not conn.execute(t.update().where(t.c.call_id == call_id).values(**values)).rowcount:
                conn.execute(t.insert().values(call_id=call_id, tenant=tenant, **values))

    def erase(self, call_ids: list[str]) -> int:
        if not call_ids:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(call_summaries_table.delete()
                                .where(call_summaries_table.c.call_id.in_(call_ids))).rowcount
