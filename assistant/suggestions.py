"""The suggestion step: for a customer's final utterance, the knowledge-base answer to show."""

from __future__ import annotations

import asyncio
import logging
import uuid

from knowledge_base.gaps import GapCollector
from knowledge_base.service import KnowledgeBase

from .events import Source, SuggestionEvent, TranscriptEvent

log = logging.getLogger(__name__)


class Suggester:
    def __init__(self, kb: KnowledgeBase, min_score: float = 0.35, k: int = 3, min_words: int = 3,
                 gaps: GapCollector | None = None):
        self.kb = kb
        self.min_score = min_score
        self.k = k
        self.min_words = min_words
        self.gaps = gaps  # where unanswered customer questions are collected for the trainers

    async def suggest(self, segment: TranscriptEvent, tenant: str,
                      campaign: str | None = None) -> SuggestionEvent | None:
        """The answer to a customer's final utterance, from the articles of the call's ``campaign``
        and those shared by every campaign (no campaign set); a call without a campaign is answered
        from all the tenant's articles. At most ``k`` sources."""
        if segment.speaker != "customer" or len(segment.text.split()) < self.min_words:
            return None
        found = await asyncio.to_thread(self.kb.answers, segment.text, tenant, segment.language, campaign, self.k)
        answers = [a for a in found if a.score >= self.min_score]
        if not answers:
            log.info("no confident answer", extra={"call_id": segment.call_id, "segment_id": segment.segment_id,
                                                    "text": segment.text, "language": segment.language,
                                                    "best_score": round(found[0].score, 4) if found else None})
            if self.gaps is not None:
                await self._record_gap(segment, tenant, found[0] if found else None, campaign)
            return None
        best = answers[0].article
        return SuggestionEvent(
            call_id=segment.call_id,
            suggestion_id=uuid.uuid4().hex[:12],
            for_segment_id=segment.segment_id,
            language=best.language,
            text=best.answer_text,
            sources=[Source(article_id=a.article.id, title=a.article.title, score=round(a.score, 4),
                            language=a.article.language) for a in answers],
        )

    async def _record_gap(self, segment: TranscriptEvent, tenant: str, nearest, campaign: str | None) -> None:
        try:
            await asyncio.to_thread(
                self.gaps.record, segment.text, tenant=tenant, language=segment.language, campaign=campaign,
                call_id=segment.call_id,
                segment_id=segment.segment_id, best_score=round(nearest.score, 4) if nearest else None,
                best_article_id=nearest.article.id if nearest else None)
        except Exception:  # a lost gap must never cost the call its transcript or suggestions
            log.exception("knowledge gap not recorded", extra={"call_id": segment.call_id})
