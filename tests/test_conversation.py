"""Suggestions follow the conversation: multi-turn calls written as transcripts, fed to a call's
``Conversation`` over a real knowledge base (real embeddings, real index, SQLite), the way the
live session feeds it; and one real call streamed to a real server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from assistant.config import Settings
from assistant.events import TranscriptEvent
from assistant.services import create_engine
from assistant.suggestions import Suggester
from knowledge_base.articles import ArticleIn, ArticleStore
from knowledge_base.service import KnowledgeBase
from retrieval.embeddings import UsemEmbeddings
from retrieval.index import PassageIndex
from tests.conftest import clip_audio, new_call_id, wait_for_call_end

ARTICLES = {
    "transfer": ("Frais d'un virement en France",
                 "Un virement en euros vers un compte en France est gratuit depuis l'application ; au guichet "
                 "il coûte 3 euros."),
    "abroad": ("Frais d'un virement international",
               "Un virement vers un compte à l'étranger hors zone euro coûte 15 euros plus 0,1 % du montant ; "
               "en zone euro SEPA il est gratuit."),
    "visa": ("Carte Visa bloquée",
             "Si votre carte Visa est bloquée après trois codes faux, elle se débloque à minuit ; sinon "
             "commandez un nouveau code PIN dans l'application."),
    "swallowed": ("Carte avalée par un distributeur",
                  "Si le distributeur a avalé votre carte, faites opposition dans l'application et commandez "
                  "une nouvelle carte ; elle arrive sous 5 jours."),
    "address": ("Changer d'adresse postale",
                "Pour changer votre adresse, allez dans Profil puis Adresse et joignez un justificatif de "
                "domicile de moins de trois mois."),
    "limit": ("Plafond de paiement de la carte",
              "Le plafond de paiement de la carte est de 2 000 euros par mois ; vous pouvez l'augmenter "
              "temporairement dans l'application."),
}


@pytest.fixture(scope="module")
def kb(tmp_path_factory) -> tuple[KnowledgeBase, dict[str, str]]:
    tmp: Path = tmp_path_factory.mktemp("conversation")
    knowledge = KnowledgeBase(ArticleStore(create_engine(Settings(data_dir=tmp))),
                              PassageIndex.open(UsemEmbeddings(threads=2), None, tmp / "qdrant"))
    ids = {key: knowledge.create(ArticleIn(title=title, body=body, language="fr", tenant="bank"), "trainer",
                                 publish=True).id
           for key, (title, body) in ARTICLES.items()}
    return knowledge, ids


class Call:
    """A call's transcript fed turn by turn; what the conversation emits, in order."""

    def __init__(self, kb: KnowledgeBase, **options):
        self.events: list[dict] = []
        self.clock = 0.0
        self.count = 0

        async def emit(event: dict) -> None:
            self.events.append(event)

        self.conversation = Suggester(kb, **options).conversation("call-1", "bank", None, emit)

    def _event(self, kind: str, speaker: str, text: str, stable: str = "", number: int | None = None) -> TranscriptEvent:
        return TranscriptEvent(type=kind, call_id="call-1", segment_id=f"{speaker}-{number or self.count}",
                               speaker=speaker, language="fr", text=text, start=self.clock, end=self.clock + 2,
                               stable_text=stable)

    async def say(self, speaker: str, text: str, partials: list[str] = ()) -> list[dict]:
        """One utterance: its partials' stable words, then its final. The events it brought."""
        before = len(self.events)
        self.count += 1
        for stable in partials:
            await self.conversation.on_partial(self._event("transcript.partial", speaker, stable, stable))
            await asyncio.sleep(0)
            task = self.conversation._open.get(f"{speaker}-{self.count}")
            if task is not None and task.task is not None:
                await task.task  # the speculative search lands before the next words, as when speech is slow
        await self.conversation.on_final(self._event("transcript.final", speaker, text))
        self.clock += 3
        return self.events[before:]

    def shown(self) -> list[dict]:
        """The cards on the agent's panel now: suggestions not replaced nor retracted."""
        gone = {e.get("replaces") for e in self.events} | {
            e["suggestion_id"] for e in self.events if e["type"] == "suggestion.retracted"}
        return [e for e in self.events if e["type"] == "suggestion" and e["suggestion_id"] not in gone]


def best(event: dict) -> str:
    return event["sources"][0]["article_id"]


async def test_follow_up_is_resolved_against_the_previous_topic(kb):
    knowledge, ids = kb
    call = Call(knowledge)
    first = await call.say("customer", "Bonjour, combien coûte un virement ?")
    assert [best(e) for e in first] == [ids["transfer"]]
    # Alone, "et pour l'étranger ?" is three words about nothing; after a question on transfers it is one.
    follow_up = await call.say("customer", "Et pour l'étranger ?")
    assert [best(e) for e in follow_up] == [ids["abroad"]], follow_up
    assert follow_up[0]["provisional"] is False


async def test_the_agents_question_narrows_the_customers_short_answer(kb):
    knowledge, ids = kb
    alone = Call(knowledge)
    assert not await alone.say("customer", "Oui, elle ne marche plus.")  # no confident answer on its own
    call = Call(knowledge)
    await call.say("agent", "Vous parlez de la carte Visa ?")
    answer = await call.say("customer", "Oui, elle ne marche plus.")
    assert [best(e) for e in answer] == [ids["visa"]]


async def test_a_question_over_two_turns_supersedes_the_weaker_first_answer(kb):
    knowledge, ids = kb
    call = Call(knowledge)
    first = await call.say("customer", "J'ai un problème avec ma carte.")
    assert len(first) == 1 and first[0]["sources"][0]["score"] < 0.5  # a weak guess between card articles
    second = await call.say("customer", "Le distributeur l'a gardée.")
    assert [best(e) for e in second] == [ids["swallowed"]]
    assert second[0]["replaces"] == first[0]["suggestion_id"]
    assert [e["suggestion_id"] for e in call.shown()] == [second[0]["suggestion_id"]]


async def test_the_same_article_is_not_suggested_twice_in_a_row_and_thanks_bring_nothing(kb):
    knowledge, ids = kb
    call = Call(knowledge)
    assert [best(e) for e in await call.say("customer", "Je voudrais changer mon adresse.")] == [ids["address"]]
    assert not await call.say("customer", "Oui, je voudrais changer mon adresse postale.")
    assert not await call.say("customer", "D'accord, merci beaucoup.")
    # Another topic in between: the article may come back.
    await call.say("customer", "Quel est le plafond de paiement de ma carte ?")
    assert [best(e) for e in await call.say("customer", "Et pour changer mon adresse ?")] == [ids["address"]]


async def test_a_confident_partial_is_shown_at_once_then_confirmed_by_the_final(kb):
    knowledge, ids = kb
    call = Call(knowledge)
    events = await call.say("customer", "Je voudrais changer mon adresse postale s'il vous plaît.",
                            partials=["je voudrais", "je voudrais changer mon adresse"])
    provisional, confirmed = events
    assert provisional["provisional"] is True and best(provisional) == ids["address"]
    assert confirmed["provisional"] is False and confirmed["replaces"] == provisional["suggestion_id"]
    assert best(confirmed) == ids["address"] and confirmed["for_segment_id"] == provisional["for_segment_id"]


async def test_a_provisional_answer_the_final_words_contradict_is_replaced(kb):
    knowledge, ids = kb
    call = Call(knowledge)
    events = await call.say("customer", "Le distributeur a gardé ma carte ce matin.",
                            partials=["le distributeur a gardé ma carte"])
    assert [e["provisional"] for e in events] == [True, False]
    call2 = Call(knowledge)
    events = await call2.say("customer", "Je voudrais changer mon adresse... non, en fait je voudrais augmenter le plafond de paiement "
                             "de ma carte.",
                             partials=["je voudrais changer mon adresse"])
    provisional, final = events
    assert best(provisional) == ids["address"] and provisional["provisional"]
    assert final["replaces"] == provisional["suggestion_id"] and not final["provisional"]
    assert best(final) == ids["limit"]


async def test_a_provisional_answer_without_a_confident_final_is_retracted(kb):
    knowledge, ids = kb
    call = Call(knowledge)
    provisional, retracted = await call.say("customer", "Je voudrais changer mon... non rien, merci, au revoir.",
                                            partials=["je voudrais changer mon adresse"])
    assert provisional["provisional"] and best(provisional) == ids["address"]
    assert retracted == {"type": "suggestion.retracted", "call_id": "call-1",
                         "suggestion_id": provisional["suggestion_id"], "for_segment_id": provisional["for_segment_id"]}
    assert call.shown() == []


async def test_speculation_off_gives_only_confirmed_suggestions(kb):
    knowledge, ids = kb
    call = Call(knowledge, speculate=False)
    events = await call.say("customer", "Je voudrais changer mon adresse postale.",
                            partials=["je voudrais changer mon adresse"])
    assert [(e["provisional"], e["replaces"], best(e)) for e in events] == [(False, None, ids["address"])]


WEATHER_ES = {"title": "Riesgos de clima extremo al viajar", "language": "es", "publish": True,
              "body": "Se recomienda a los viajeros informarse sobre cualquier riesgo de clima extremo en la zona "
                      "que visitan, ya que puede afectar sus planes de viaje."}


async def test_real_call_customer_repeating_the_question_does_not_get_the_same_card_twice(floor):
    """A real call: the customer asks (FLEURS es-0), then says it again; the agent's panel gets the
    travel-weather article once, for the first time, and the record keeps that one card."""
    from assistant.simulate import stream_audio
    import numpy as np

    tenant = floor.add_tenant()
    article = httpx.post(f"{floor.base_url}/v1/kb/articles", headers=floor.headers("trainer", tenant),
                         json=WEATHER_ES)
    assert article.status_code == 201, article.text
    audio, _ = clip_audio("es", 0)
    pause = np.zeros((1, 16000 * 2), dtype=np.float32)
    call_id = new_call_id("repeat")
    await stream_audio(np.concatenate([audio, pause, audio, pause], axis=1), f"{floor.ws_base}/v1/calls/{call_id}/audio",
                       speed=0.0, api_key=floor.ingest_key(tenant))
    token = floor.token("supervisor", tenant)
    await wait_for_call_end(floor.base_url, call_id, token=token)
    call = httpx.get(f"{floor.base_url}/v1/calls/{call_id}", headers=floor.headers("supervisor", tenant)).json()
    finals = [s for s in call["segments"] if s["speaker"] == "customer"]
    assert len(finals) == 2, finals
    assert [(s["for_segment_id"], s["sources"][0]["article_id"]) for s in call["suggestions"]] == [
        (finals[0]["segment_id"], article.json()["id"])]
    assert call["suggestions"][0]["provisional"] is False


async def test_a_short_reply_is_searched_only_as_an_answer_to_the_agents_question(kb):
    knowledge, ids = kb
    call = Call(knowledge)
    await call.say("customer", "Combien coûte un virement ?")
    assert not await call.say("customer", "Ah bon.")  # two words after the customer's own question: nothing
    call = Call(knowledge)
    await call.say("agent", "C'est pour la carte Visa ?")
    assert [best(e) for e in await call.say("customer", "Oui, bloquée.")] == [ids["visa"]]
