"""Optional reply drafting (assistant/drafting.py) up to the HTTP boundary.

No OpenAI-compatible server with a real model can be installed here: no package of the PyPI
registry ships a small chat model's weights (README "LLM drafting"). So the model's side is a
real HTTP server in this test that speaks the OpenAI chat-completions protocol (what vLLM,
llama.cpp's server and Ollama expose) and answers what each test scripts; everything of ours,
LangChain's client included, runs for real against it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI, Request

from assistant.drafting import REFUSAL, Drafter

ARTICLES = [
    {"id": "a-lost", "title": "Carte perdue ou volée",
     "text": "Faites opposition dans l'application (Carte > Opposition) puis commandez une nouvelle carte."},
    {"id": "a-limit", "title": "Plafond de paiement",
     "text": "Le plafond de paiement est de 2 000 euros par mois."},
]


class ChatServer:
    """An OpenAI-compatible chat-completions server: replies ``reply`` after ``delay_s``; keeps the
    requests it received."""

    def __init__(self):
        self.reply, self.delay_s, self.requests = "", 0.0, []
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> dict:
            body = await request.json()
            self.requests.append(body)
            await asyncio.sleep(self.delay_s)
            return {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"], "choices": [{"index": 0, "finish_reason": "stop",
                                                         "message": {"role": "assistant", "content": self.reply}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "ChatServer":
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def chat():
    with ChatServer() as server:
        yield server


@pytest.fixture
def drafter(chat) -> Drafter:
    chat.delay_s, chat.requests = 0.0, []
    return Drafter(chat.url, model="small-model", timeout_s=1.0)


async def test_a_draft_grounded_in_the_articles_keeps_its_citations(chat, drafter):
    chat.reply = "Faites opposition tout de suite dans l'application [1], puis commandez une nouvelle carte [1]."
    draft = await drafter.draft("J'ai perdu ma carte, que faire ?", "fr", ARTICLES)
    assert draft.status == "ready" and draft.text == chat.reply and draft.citations == ["a-lost"]
    sent = chat.requests[-1]
    assert sent["model"] == "small-model" and sent["temperature"] == 0
    system, user = sent["messages"]
    assert "French" in system["content"] and REFUSAL in system["content"]
    assert "[1] Carte perdue ou volée" in user["content"] and "[2] Plafond de paiement" in user["content"]


async def test_the_model_refusing_or_citing_nothing_it_was_given_yields_no_draft(chat, drafter):
    for reply in (REFUSAL, "Je ne sais pas.", "Votre banque vous rembourse sous 3 jours [3].", ""):
        chat.reply = reply
        draft = await drafter.draft("Quel temps fera-t-il demain ?", "fr", ARTICLES)
        assert (draft.status, draft.text) == ("refused", ""), reply


async def test_a_late_draft_is_dropped_within_its_time_bound(chat, drafter):
    chat.reply, chat.delay_s = "Trop tard [1].", 3.0
    started = time.monotonic()
    draft = await drafter.draft("J'ai perdu ma carte.", "fr", ARTICLES)
    assert draft.status == "late" and time.monotonic() - started < 2.0


async def test_the_model_receives_the_customers_words_redacted(chat, drafter):
    chat.reply = "Faites opposition [1]."
    await drafter.draft("Ma carte 4970 1234 5678 9013 est perdue, appelez-moi au 06 12 34 56 78", "fr", ARTICLES)
    sent = json.dumps(chat.requests[-1], ensure_ascii=False)
    assert "4970" not in sent and "12 34 56 78" not in sent
    assert "[CARD]" in sent and "[PHONE]" in sent


async def test_a_server_that_is_down_costs_nothing_but_the_draft():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    draft = await Drafter(f"http://127.0.0.1:{port}/v1", timeout_s=1.0).draft("J'ai perdu ma carte.", "fr", ARTICLES)
    assert draft.status == "failed"


async def test_a_live_call_gets_a_draft_after_its_suggestion(chat, tmp_path):
    """A real Rafiq server with RAFIQ_LLM_URL set, a real call (FLEURS es-0): its confirmed
    suggestion is followed by a ``suggestion.draft`` event carrying the model's grounded reply."""
    import httpx

    from assistant.launcher import ServerProcess
    from assistant.simulate import stream_audio
    from bench.latency import bench_credentials
    from speech.audio import decode_file
    from tests.conftest import collect_when_started, fleurs_clip, new_call_id

    chat.delay_s, chat.requests = 0.0, []
    chat.reply = "Infórmese sobre el clima extremo de su destino antes de viajar [1]."
    server = ServerProcess(tmp_path, RAFIQ_SEED_KB="0", RAFIQ_LLM_URL=chat.url, RAFIQ_LLM_TIMEOUT_S="20")
    with server as base:
        creds = bench_credentials(server)
        article = httpx.post(f"{base}/v1/kb/articles", headers=creds.headers, timeout=60, json={
            "title": "Riesgos de clima extremo al viajar", "language": "es", "publish": True,
            "body": "Se recomienda a los viajeros informarse sobre cualquier riesgo de clima extremo en la zona "
                    "que visitan, ya que puede afectar sus planes de viaje."})
        assert article.status_code == 201, article.text
        clip, _ = fleurs_clip("es", 0)
        call_id = new_call_id("draft")
        ws_base = "ws" + base[4:]
        collector = asyncio.ensure_future(collect_when_started(ws_base, call_id, token=creds.token))
        await stream_audio(decode_file(clip), f"{ws_base}/v1/calls/{call_id}/audio", speed=0.0,
                           api_key=creds.ingest_key)
        events = await asyncio.wait_for(collector, 180)
    suggestion = next(e for e in events if e["type"] == "suggestion" and not e["provisional"])
    draft = next(e for e in events if e["type"] == "suggestion.draft")
    assert draft["seq"] > suggestion["seq"] and draft["suggestion_id"] == suggestion["suggestion_id"]
    assert (draft["status"], draft["text"], draft["citations"]) == ("ready", chat.reply, [article.json()["id"]])
    final = next(e for e in events if e["type"] == "transcript.final")
    assert final["text"] in chat.requests[-1]["messages"][1]["content"]
