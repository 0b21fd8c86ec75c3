"""What the supervisors' live floor shows of one call, kept up to date from its events: who,
which campaign, the languages heard, the customer's sentiment now and its trend, silence and
overtalk, the last suggestion and what the agent did with it, the alerts still open."""

from __future__ import annotations

from typing import Any

TREND_WINDOW = 3  # customer utterances compared: the last ones against those before them
TREND_STEP = 0.15  # the least change in mean polarity that counts as rising or falling
TEXT_PREVIEW = 160


def polarity(sentiment: dict[str, Any] | None) -> float | None:
    """A sentiment ``{label, score}`` as one number from -1 (surely negative) to +1 (surely
    positive); neutral is 0. None when the event carries none."""
    if not isinstance(sentiment, dict) or sentiment.get("label") not in ("negative", "neutral", "positive"):
        return None
    score = sentiment.get("score")
    weight = float(score) if isinstance(score, (int, float)) and 0 <= score <= 1 else 1.0
    return {"negative": -weight, "neutral": 0.0, "positive": weight}[sentiment["label"]]


def trend(values: list[float]) -> str | None:
    """"rising", "falling" or "steady" over the last utterances; None with fewer than two."""
    if len(values) < 2:
        return None
    recent = values[-TREND_WINDOW:]
    before = values[-2 * TREND_WINDOW:-TREND_WINDOW] or values[:1]
    if len(values) <= TREND_WINDOW:
        recent, before = values[len(values) // 2:], values[:len(values) // 2]
    change = sum(recent) / len(recent) - sum(before) / len(before)
    if change >= TREND_STEP:
        return "rising"
    if change <= -TREND_STEP:
        return "falling"
    return "steady"


class FloorCall:
    """One live call as the floor shows it. ``observe`` returns True when what it shows changed."""

    def __init__(self, call_id: str, tenant: str, *, agent: str | None, team: str | None, campaign: str | None,
                 started_at: str, language: str | None = None):
        self.call_id = call_id
        self.tenant = tenant
        self.agent = agent
        self.team = team
        self.campaign = campaign
        self.started_at = started_at
        self.languages: list[str] = [language] if language else []
        self.customer_polarity: list[float] = []
        self.sentiment: dict[str, Any] | None = None
        self.silence_s = 0.0
        self.overtalk_s = 0.0
        self.last_speech_at: str | None = None
        self.speaking = False
        self.last_suggestion: dict[str, Any] | None = None
        self.suggestions = 0
        self.used = 0
        self.alerts: dict[str, dict[str, Any]] = {}  # open ones, by id
        self.notes = 0

    def observe(self, event: dict[str, Any], at: str) -> bool:
        kind = event.get("type")
        if kind == "transcript.final":
            changed = False
            language = event.get("language")
            if language and language not in self.languages:
                self.languages.append(language)
                changed = True
            self.last_speech_at = at
            if event.get("speaker") == "customer":
                value = polarity(event.get("sentiment"))
                if value is not None:
                    self.customer_polarity.append(value)
                    self.sentiment = {"label": event["sentiment"]["label"], "score": event["sentiment"].get("score")}
                    changed = True
            return changed
        if kind == "suggestion":
            self.suggestions += 1
            sources = event.get("sources") or []
            self.last_suggestion = {"suggestion_id": event.get("suggestion_id"),
                                    "text": (event.get("text") or "")[:TEXT_PREVIEW],
                                    "title": sources[0].get("title") if sources else None, "action": None}
            return True
        if kind == "suggestion.feedback":
            if event.get("action") in ("used", "edited"):
                self.used += 1
            if self.last_suggestion and self.last_suggestion["suggestion_id"] == event.get("suggestion_id"):
                self.last_suggestion["action"] = event.get("action")
                return True
            return event.get("action") in ("used", "edited")
        if kind == "alert":
            self.alerts[event["alert_id"]] = {key: event.get(key) for key in
                                              ("alert_id", "rule_id", "kind", "title", "detail", "segment_id", "at")}
            return True
        if kind == "alert.ack":
            return self.alerts.pop(event.get("alert_id"), None) is not None
        if kind == "note":
            self.notes += 1
            return True
        return False

    def set_timing(self, silence_s: float, overtalk_s: float) -> bool:
        """The call's silence and overtalk seconds (from its alert watch); True if they changed
        by a second or more (the floor needs no finer)."""
        changed = abs(silence_s - self.silence_s) >= 1 or abs(overtalk_s - self.overtalk_s) >= 0.5
        if changed:
            self.silence_s, self.overtalk_s = silence_s, overtalk_s
        return changed

    def view(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id, "agent": self.agent, "team": self.team, "campaign": self.campaign,
            "started_at": self.started_at, "languages": list(self.languages),
            "sentiment": self.sentiment, "sentiment_trend": trend(self.customer_polarity),
            "sentiment_history": [round(v, 3) for v in self.customer_polarity[-20:]],
            "silence_s": round(self.silence_s, 1), "overtalk_s": round(self.overtalk_s, 1),
            "last_speech_at": self.last_speech_at,
            "last_suggestion": dict(self.last_suggestion) if self.last_suggestion else None,
            "suggestions": self.suggestions, "suggestions_used": self.used,
            "alerts": sorted(self.alerts.values(), key=lambda a: a.get("at") or ""), "notes": self.notes,
        }
