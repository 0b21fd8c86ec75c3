"""The bundled demo call (assistant/demo/demo_call.ogg, stereo French: customer left, agent
right), streamed through the native ingest as a PBX would: each of the customer's three
questions gets the seed article that answers it, not merely some suggestion."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import transcribe_live

DEMO = Path(__file__).resolve().parents[1] / "assistant" / "demo"
# The customer's questions in the demo script, by a word the transcript keeps, and their seed article.
QUESTIONS = {"carte": "bank-card-lost-block", "roaming": "tel-roaming-activate", "box": "tel-internet-box-no-connection"}


async def test_each_question_of_the_demo_call_gets_its_own_seed_article(floor):
    script = json.loads((DEMO / "demo_call.json").read_text(encoding="utf-8"))
    said = [t["text"] for t in script["turns"] if t["speaker"] == "customer"]
    assert all(any(word in line for line in said) for word in QUESTIONS)  # the script still asks them

    # Default tenant (the seed is its knowledge base): its ingest key streams, its supervisor reads.
    events = await transcribe_live(floor, DEMO / "demo_call.ogg", speed=0)
    assert events[0]["type"] == "call.started" and events[0]["roles"] == ["customer", "agent"]
    assert events[-1]["type"] == "call.ended"
    finals = {e["segment_id"]: e for e in events if e["type"] == "transcript.final" and e["speaker"] == "customer"}
    suggestions = {e["for_segment_id"]: e for e in events if e["type"] == "suggestion"}
    trainer = floor.headers("trainer")
    for word, external_id in QUESTIONS.items():
        asked = [f for f in finals.values() if word in f["text"].lower()]
        assert asked, f"no customer utterance with {word!r}: {[f['text'] for f in finals.values()]}"
        answered = [suggestions[f["segment_id"]] for f in asked if f["segment_id"] in suggestions]
        assert answered, f"{asked[0]['text']!r} got no suggestion"
        first = answered[0]["sources"][0]
        article = httpx.get(f"{floor.base_url}/v1/kb/articles/{first['article_id']}", headers=trainer).json()
        assert article["external_id"] == external_id, (asked[0]["text"], answered[0]["sources"])
        assert first["title"] == article["title"] and article["language"] == "fr" == answered[0]["language"]
