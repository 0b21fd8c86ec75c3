"""Optional drafting of the agent's reply by a local LLM (off unless ``RAFIQ_LLM_URL`` is set).

For each confirmed suggestion, an OpenAI-compatible server on the premises (vLLM, llama.cpp's
server, Ollama…), reached through LangChain, rewrites the article's answer as a reply to this
customer, in their language, from the retrieved article(s) only, keeping citations ``[1]``,
``[2]``… to them. It refuses (``NO_ANSWER``) when the articles do not answer. The draft is
bounded in time: the suggestion with the article's own text is on the panel already, and a
draft that comes late is dropped. The model receives redacted text only: the customer's words
are masked for every kind of personal data, whatever the tenant's own redaction settings.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from privacy import KINDS, redact

from .sessions import CallObserver

log = logging.getLogger(__name__)

REFUSAL = "NO_ANSWER"
LANGUAGE_NAMES = {"fr": "French", "ar": "Arabic", "es": "Spanish", "en": "English", "pt": "Portuguese"}
CITATION = re.compile(r"\[(\d+)\]")

SYSTEM = (
    "You help a call-centre agent. Write the reply the agent can say to the customer, in {language}, "
    "in at most three sentences. Use ONLY the facts in the numbered articles; never add a fact, a number "
    "or a promise that is not in them. After each sentence, cite the article it comes from as [1], [2]. "
    "If the articles do not answer the customer, write exactly " + REFUSAL + " and nothing else."
)


@dataclass
class Draft:
    status: str  # "ready", "refused" (no answer in the articles, or no citation to them), "late", "failed"
    text: str = ""
    citations: list[str] | None = None  # article ids cited, in order of first citation
    seconds: float = 0.0


class Drafter:
    """Talks to the LLM server; one per process."""

    def __init__(self, url: str, model: str = "default", api_key: str = "", timeout_s: float = 3.0,
                 max_tokens: int = 200):
        from langchain_openai import ChatOpenAI  # imported only when drafting is on

        self.timeout_s = timeout_s
        self.llm = ChatOpenAI(base_url=url, model=model, api_key=api_key or "not-needed", temperature=0,
                              max_tokens=max_tokens, timeout=timeout_s, max_retries=0)

    @staticmethod
    def messages(question: str, language: str, articles: list[dict[str, str]]) -> list[tuple[str, str]]:
        """The prompt: the customer's words, redacted for every kind of personal data, and the articles."""
        masked = redact(question, language, list(KINDS))[0]
        numbered = "\n\n".join(f"[{n}] {a['title']}\n{a['text']}" for n, a in enumerate(articles, 1))
        name = LANGUAGE_NAMES.get(language, language)
        return [("system", SYSTEM.format(language=name)),
                ("human", f"Articles:\n{numbered}\n\nThe customer said: {masked}")]

    async def draft(self, question: str, language: str, articles: list[dict[str, str]]) -> Draft:
        """A reply grounded in ``articles`` (each {"id", "title", "text"}), or why there is none."""
        started = time.monotonic()
        try:
            reply = await asyncio.wait_for(self.llm.ainvoke(self.messages(question, language, articles)),
                                           self.timeout_s)
        except asyncio.TimeoutError:
            return Draft("late", seconds=time.monotonic() - started)
        except Exception as exc:  # the server is down or answered garbage: the article stays
            log.warning("draft failed", extra={"error": type(exc).__name__})
            return Draft("failed", seconds=time.monotonic() - started)
        seconds = time.monotonic() - started
        text = str(reply.content).strip()
        if not text or REFUSAL in text:
            return Draft("refused", seconds=seconds)
        cited = [int(n) for n in CITATION.findall(text)]
        if not cited or any(n < 1 or n > len(articles) for n in cited):
            return Draft("refused", seconds=seconds)  # not grounded in the articles it was given
        ids = list(dict.fromkeys(articles[n - 1]["id"] for n in cited))
        return Draft("ready", text=text, citations=ids, seconds=seconds)


class DraftingObserver(CallObserver):
    """Drafts a reply for each confirmed suggestion of a live call and emits it as a
    ``suggestion.draft`` event (status ready, refused, late or failed) for the panel."""

    def __init__(self, drafter: Drafter, kb):
        self.drafter = drafter
        self.kb = kb
        self._finals: dict[tuple[str, str], dict[str, Any]] = {}
        self._tasks: dict[str, set[asyncio.Task]] = {}

    async def on_event(self, session, event: dict[str, Any]) -> None:
        if event["type"] == "transcript.final":
            self._finals[(session.call_id, event["segment_id"])] = event
        elif event["type"] == "suggestion" and not event.get("provisional"):
            segment = self._finals.get((session.call_id, event["for_segment_id"]))
            if segment is not None:
                task = asyncio.get_running_loop().create_task(self._draft(session, segment, event))
                tasks = self._tasks.setdefault(session.call_id, set())
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    async def _draft(self, session, segment: dict[str, Any], suggestion: dict[str, Any]) -> None:
        articles = []
        for source in suggestion["sources"]:
            article = await asyncio.to_thread(self.kb.live_article, source["article_id"])
            if article is not None:
                articles.append({"id": article.id, "title": article.title, "text": article.answer_text})
        if not articles:
            return
        draft = await self.drafter.draft(segment["text"], segment["language"], articles)
        log.info("draft", extra={"call_id": session.call_id, "suggestion_id": suggestion["suggestion_id"],
                                 "status": draft.status, "seconds": round(draft.seconds, 3)})
        await session.registry.emit(session.call_id, {
            "type": "suggestion.draft", "call_id": session.call_id, "suggestion_id": suggestion["suggestion_id"],
            "status": draft.status, "text": draft.text, "citations": draft.citations or [],
            "language": segment["language"], "seconds": round(draft.seconds, 3)})

    async def on_end(self, session) -> None:
        tasks = self._tasks.pop(session.call_id, set())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for key in [k for k in self._finals if k[0] == session.call_id]:
            del self._finals[key]
