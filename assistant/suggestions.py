"""The suggestion step: what the knowledge base answers to what the customer is saying, in the
light of the conversation so far, shown while they speak and confirmed when they stop."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from knowledge_base.gaps import GapCollector
from knowledge_base.service import Answer, KnowledgeBase

from .events import Source, SuggestionEvent, SuggestionRetracted, TranscriptEvent

log = logging.getLogger(__name__)

QUESTION_MARKS = ("?", "؟", "¿")


@dataclass
class Turn:
    speaker: str
    text: str
    end: float  # seconds into the call


@dataclass
class Found:
    """The answers one query found, and which earlier turn (if any) the query leaned on."""

    query: str
    answers: list[Answer]
    context: str | None = None  # "previous_customer" or "agent_question"

    @property
    def best(self) -> float:
        return self.answers[0].score if self.answers else 0.0


def conversation_queries(turns: list[Turn], text: str, window_s: float, now: float) -> list[tuple[str, str | None]]:
    """The queries worth searching for ``text``, the customer's utterance ending at ``now``: the
    utterance alone, then with the agent's question just before it (it narrows a short answer:
    "vous parlez de la carte Visa ?" — "oui, elle est bloquée"), then with the customer's previous
    turn (a question spread over two turns, a follow-up: "et pour l'étranger ?")."""
    queries: list[tuple[str, str | None]] = [(text, None)]
    recent = [t for t in turns if now - t.end <= window_s]
    previous_customer = next((t for t in reversed(recent) if t.speaker == "customer"), None)
    agent_question = next((t for t in reversed(recent) if t.speaker == "agent"
                           and (previous_customer is None or t.end >= previous_customer.end)
                           and t.text.rstrip().endswith(QUESTION_MARKS)), None)
    if agent_question is not None:
        queries.append((f"{agent_question.text} {text}", "agent_question"))
    if previous_customer is not None:
        queries.append((f"{previous_customer.text} {text}", "previous_customer"))
    return queries


class Suggester:
    """Searches the knowledge base for a customer's words; one ``Conversation`` per call."""

    def __init__(self, kb: KnowledgeBase, min_score: float = 0.35, k: int = 3, min_words: int = 3,
                 gaps: GapCollector | None = None, provisional_min_score: float = 0.5,
                 provisional_min_words: int = 4, speculate: bool = True, context_window_s: float = 60.0,
                 provisional_margin: float = 0.05):
        self.kb = kb
        self.min_score = min_score
        self.k = k
        self.min_words = min_words
        self.gaps = gaps  # where unanswered customer questions are collected for the trainers
        # A suggestion shown before the customer finished must be surer than one shown after:
        # a wrong card that flickers away costs the agent's attention.
        self.provisional_min_score = provisional_min_score
        self.provisional_min_words = provisional_min_words
        self.provisional_margin = provisional_margin  # over the runner-up: no guess between two articles
        self.speculate = speculate
        self.context_window_s = context_window_s

    def answers(self, text: str, tenant: str, language: str | None, campaign: str | None) -> list[Answer]:
        return self.kb.answers(text, tenant, language, campaign, self.k + 1)

    async def suggest(self, segment: TranscriptEvent, tenant: str,
                      campaign: str | None = None) -> SuggestionEvent | None:
        """The answer to one customer utterance on its own (no conversation): from the articles of
        ``campaign`` and those shared by every campaign (no campaign set); a call without a
        campaign is answered from all the tenant's articles. At most ``k`` sources."""
        if segment.speaker != "customer" or len(segment.text.split()) < self.min_words:
            return None
        found = await asyncio.to_thread(self.answers, segment.text, tenant, segment.language, campaign)
        answers = [a for a in found if a.score >= self.min_score][: self.k]
        if not answers:
            await self.record_gap(segment, tenant, found[0] if found else None, campaign)
            return None
        return suggestion_event(segment, answers)

    def conversation(self, call_id: str, tenant: str, campaign: str | None,
                     emit: Callable[[dict[str, Any]], Awaitable[Any]]) -> "Conversation":
        return Conversation(self, call_id, tenant, campaign, emit)

    async def record_gap(self, segment: TranscriptEvent, tenant: str, nearest: Answer | None,
                         campaign: str | None) -> None:
        log.info("no confident answer", extra={"call_id": segment.call_id, "segment_id": segment.segment_id,
                                                "text": segment.text, "language": segment.language,
                                                "best_score": round(nearest.score, 4) if nearest else None})
        if self.gaps is None:
            return
        try:
            await asyncio.to_thread(
                self.gaps.record, segment.text, tenant=tenant, language=segment.language, campaign=campaign,
                call_id=segment.call_id,
                segment_id=segment.segment_id, best_score=round(nearest.score, 4) if nearest else None,
                best_article_id=nearest.article.id if nearest else None)
        except Exception:  # a lost gap must never cost the call its transcript or suggestions
            log.exception("knowledge gap not recorded", extra={"call_id": segment.call_id})


def suggestion_event(segment: TranscriptEvent, answers: list[Answer], provisional: bool = False,
                     replaces: str | None = None) -> SuggestionEvent:
    best = answers[0].article
    return SuggestionEvent(
        call_id=segment.call_id,
        suggestion_id=uuid.uuid4().hex[:12],
        for_segment_id=segment.segment_id,
        language=best.language,
        text=best.answer_text,
        sources=[Source(article_id=a.article.id, title=a.article.title, score=round(a.score, 4),
                        language=a.article.language) for a in answers],
        provisional=provisional,
        replaces=replaces,
    )


def _number(segment_id: str) -> int:
    """The utterance number of a segment id ("customer-7" → 7)."""
    tail = segment_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


@dataclass
class _Shown:
    """The suggestion on the agent's panel for a customer utterance."""

    event: SuggestionEvent
    group: str
    score: float


@dataclass
class _Open:
    """A customer utterance still being spoken: what its partials brought up."""

    searched: str = ""  # the stable text last searched
    task: asyncio.Task | None = None
    shown: _Shown | None = None
    started: float = field(default_factory=time.monotonic)


class Conversation:
    """One call's suggestions. It hears every transcript event of the call (both speakers):

    - on a customer's *partial*, it searches the stable prefix (the words later partials keep)
      and, when the answer is confident, shows it at once as a ``provisional`` suggestion;
    - on the customer's *final*, it searches the whole utterance with the recent turns around
      it, and confirms the provisional suggestion (``provisional: false``, ``replaces`` its id),
      replaces it with a better one, or retracts it when the final has no confident answer;
    - the same article is not suggested twice in a row, and an answer found by joining a turn to
      the previous one supersedes the previous turn's weaker suggestion.
    """

    def __init__(self, suggester: Suggester, call_id: str, tenant: str, campaign: str | None,
                 emit: Callable[[dict[str, Any]], Awaitable[Any]]):
        self.suggester = suggester
        self.call_id = call_id
        self.tenant = tenant
        self.campaign = campaign
        self.emit = emit
        self.turns: deque[Turn] = deque(maxlen=8)
        self.last: _Shown | None = None  # the latest suggestion confirmed on the panel
        self.last_segment: str | None = None
        self.previous_customer_segment: str | None = None
        self._open: dict[str, _Open] = {}
        self._finished: deque[str] = deque(maxlen=32)  # segments whose final was handled
        self._finals = asyncio.Lock()  # one final at a time, in order: each leans on the turns before

    # -- events ---------------------------------------------------------------------------------

    async def on_partial(self, event: TranscriptEvent) -> None:
        s = self.suggester
        if not s.speculate or event.speaker != "customer":
            return
        # The words later partials keep (LocalAgreement); where partials come too seldom for two to
        # agree (a loaded CPU), the latest one without its last word, which may be cut mid-word.
        # A wrong guess costs little: it must clear a stricter bar, and the final confirms or replaces it.
        stable = event.stable_text.strip()
        guess = " ".join(event.text.split()[:-1])
        if len(guess.split()) > len(stable.split()):
            stable = guess
        if len(stable.split()) < s.provisional_min_words:
            return
        if event.segment_id in self._finished:
            return
        state = self._open.setdefault(event.segment_id, _Open())
        if stable == state.searched or (state.task is not None and not state.task.done()):
            return  # nothing new, or the last search is still running: the next partial will do
        state.searched = stable
        state.task = asyncio.get_running_loop().create_task(self._speculate(event, stable, state))

    async def on_final(self, event: TranscriptEvent) -> None:
        if event.speaker != "customer":
            self.turns.append(Turn(event.speaker, event.text, event.end))
            return
        self._finished.append(event.segment_id)
        async with self._finals:
            state = self._open.pop(event.segment_id, None)
            if state is not None and state.task is not None:
                await asyncio.gather(state.task, return_exceptions=True)  # its card lands before its fate
            shown = state.shown if state is not None else None
            try:
                await self._confirm(event, shown)
            finally:
                self.turns.append(Turn(event.speaker, event.text, event.end))
                self.previous_customer_segment = event.segment_id
            # An utterance whose final never came (dropped as noise) keeps no provisional card.
            for segment_id in [k for k in self._open if _number(k) < _number(event.segment_id)]:
                await self._retract(self._open.pop(segment_id), segment_id)

    async def on_end(self) -> None:
        """The call's audio is all transcribed: provisional cards still open are withdrawn."""
        async with self._finals:
            for segment_id in list(self._open):
                await self._retract(self._open.pop(segment_id), segment_id)

    async def _retract(self, state: _Open, segment_id: str) -> None:
        if state.task is not None:
            await asyncio.gather(state.task, return_exceptions=True)
        if state.shown is not None:
            await self.emit(SuggestionRetracted(call_id=self.call_id, suggestion_id=state.shown.event.suggestion_id,
                                                for_segment_id=segment_id).model_dump())

    # -- the work -------------------------------------------------------------------------------

    async def _search(self, event: TranscriptEvent, text: str, with_context: bool) -> Found:
        s = self.suggester
        queries = (conversation_queries(list(self.turns), text, s.context_window_s, event.end)
                   if with_context else [(text, None)])
        best: Found | None = None
        for query, context in queries:
            answers = await asyncio.to_thread(s.answers, query, self.tenant, event.language, self.campaign)
            answers = [a for a in answers if not self._repeats(a)]
            found = Found(query, answers, context)
            if best is None or found.best > best.best:
                best = found
        return best

    def _repeats(self, answer: Answer) -> bool:
        """The article the panel shows for the previous utterance: not suggested twice in a row."""
        return self.last is not None and self.last.group == answer.article.group_id

    async def _speculate(self, event: TranscriptEvent, stable: str, state: _Open) -> None:
        s = self.suggester
        try:
            found = await self._search(event, stable, with_context=False)
        except Exception:
            log.exception("speculative search failed", extra={"call_id": self.call_id})
            return
        if event.segment_id not in self._open or found.best < s.provisional_min_score:
            return  # the final came first, or no answer sure enough to show before it
        if len(found.answers) > 1 and found.best - found.answers[1].score < s.provisional_margin:
            return  # two articles close together: wait for the whole utterance
        best = found.answers[0]
        if state.shown is not None and state.shown.group == best.article.group_id:
            return
        answers = [a for a in found.answers if a.score >= s.min_score][: s.k]
        suggestion = suggestion_event(event, answers, provisional=True,
                                      replaces=state.shown.event.suggestion_id if state.shown else None)
        state.shown = _Shown(suggestion, best.article.group_id, best.score)
        log.info("provisional suggestion", extra={"call_id": self.call_id, "segment_id": event.segment_id,
                                                  "suggestion_id": suggestion.suggestion_id,
                                                  "score": round(best.score, 4)})
        await self.emit(suggestion.model_dump())

    async def _confirm(self, event: TranscriptEvent, shown: _Shown | None) -> None:
        s = self.suggester
        enough_words = len(event.text.split()) >= s.min_words
        # A short follow-up ("et pour l'étranger ?") is searched with the turns before it.
        found = await self._search(event, event.text, with_context=True) if (enough_words or self.turns) else None
        answers = [a for a in found.answers if a.score >= s.min_score][: s.k] if found else []
        if not enough_words and not (found is not None and found.context == "agent_question"
                                     or event.text.rstrip().endswith(QUESTION_MARKS)):
            # Too short to stand alone ("oui", "d'accord"): only an answer to the agent's question
            # or a short follow-up question is searched with the turns before it.
            answers = []
        if not answers:
            if shown is not None:
                await self.emit(SuggestionRetracted(call_id=self.call_id, suggestion_id=shown.event.suggestion_id,
                                                    for_segment_id=event.segment_id).model_dump())
            if enough_words:
                await s.record_gap(event, self.tenant, found.answers[0] if found and found.answers else None,
                                   self.campaign)
            return
        replaces = shown.event.suggestion_id if shown is not None else None
        previous = self.last if self.last is not None and self.last_segment == self.previous_customer_segment else None
        if (replaces is None and previous is not None and answers[0].score > previous.score
                and (found.context == "previous_customer" or previous.score < s.provisional_min_score)):
            # A question spread over two turns: the better answer to the whole takes the place of
            # the weaker one the first turn brought up.
            replaces = previous.event.suggestion_id
        suggestion = suggestion_event(event, answers, replaces=replaces)
        self.last = _Shown(suggestion, answers[0].article.group_id, answers[0].score)
        self.last_segment = event.segment_id
        await self.emit(suggestion.model_dump())
