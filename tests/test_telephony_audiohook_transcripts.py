"""Rafiq as Genesys's transcription engine: an AudioHook session whose open asks for
supportedLanguages gets each utterance back as a `transcript` entity, with Whisper's word
timestamps, offsets on the stream's timeline (paused and discarded audio counted) and the
language Genesys asked for (`update` honoured). Real speech: FLEURS clips at known places."""

from __future__ import annotations

import asyncio
import re
import uuid

import numpy as np

from assistant.simulate import AudioHookPeer, Pacer
from tests.conftest import assert_wer, clip_audio, recorded_events, wait_for_call_end

ISO_DURATION = re.compile(r"^PT\d+(\.\d+)?S$")
RATE = 16000
# How far an utterance's offset/end may sit from the speech in the audio: the end-pointer's
# padding and the 20 ms frames (measured at most 0.31 s on 2026-12-01; bound 0.5 s).
TIMING_TOLERANCE_S = 0.5
DISCARDED_S = 3.0  # longer than the silence Rafiq feeds for a gap (2 s): the stream counts all of it
# WER bounds of each clip as Genesys receives it (PCMU 8 kHz): measured on 2026-12-01 + ~2 words.
WER_ES3 = 0.14  # measured 0.000, margin 2 of 15 words
WER_EN4 = 0.14  # measured 0.000, margin 2 of 15 words
WER_FR2 = 0.28  # measured 0.200, margin 2 of 25 words


def seconds(duration: str) -> float:
    assert ISO_DURATION.match(duration), duration
    return float(duration[2:-1])


def speech_span(audio: np.ndarray) -> tuple[float, float]:
    """First and last 20 ms frame of the clip louder than 5 % of its loudest frame (seconds)."""
    frame = RATE // 50
    rows = audio[0, : len(audio[0]) // frame * frame].reshape(-1, frame)
    rms = np.sqrt((rows ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > 0.05 * rms.max())
    return loud[0] * frame / RATE, (loud[-1] + 1) * frame / RATE


def silence(s: float) -> np.ndarray:
    return np.zeros((1, int(s * RATE)), dtype=np.float32)


def entities(hook: AudioHookPeer) -> list[dict]:
    return [entity["data"] for reply in hook.replies if reply["type"] == "event"
            for entity in reply["parameters"]["entities"] if entity["type"] == "transcript"]


def assert_well_formed(data: dict) -> None:
    uuid.UUID(data["id"])
    assert data["isFinal"] is True and data["channelId"] in (0, 1)
    start, length = seconds(data["offset"]), seconds(data["duration"])
    (alternative,) = data["alternatives"]
    assert 0 < alternative["confidence"] <= 1 and len(alternative["languages"]) == 1
    (interpretation,) = alternative["interpretations"]
    assert interpretation["type"] == "display" and interpretation["transcript"]
    tokens = interpretation["tokens"]
    assert tokens and all(t["type"] == "word" and t["value"] and 0 <= t["confidence"] <= 1 for t in tokens)
    # The tokens spell the transcript, in order, inside the utterance.
    assert " ".join(t["value"] for t in tokens).split() == interpretation["transcript"].split()
    offsets = [seconds(t["offset"]) for t in tokens]
    assert offsets == sorted(offsets)
    for token, offset in zip(tokens, offsets):
        assert start - 0.05 <= offset and offset + seconds(token["duration"]) <= start + length + 0.05, (token, data)
        assert token["language"] == alternative["languages"][0]


async def wait_quiet(hook: AudioHookPeer, until, quiet_s: float = 4.0, timeout: float = 180) -> None:
    """Until ``until()`` holds and no transcript came for ``quiet_s`` (the engine is done)."""
    loop = asyncio.get_running_loop()
    deadline, count, changed = loop.time() + timeout, -1, loop.time()
    while loop.time() < deadline:
        current = len(entities(hook))
        if current != count:
            count, changed = current, loop.time()
        elif until() and loop.time() - changed >= quiet_s:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"transcripts did not settle: {entities(hook)}")


async def test_transcripts_go_back_to_genesys_on_the_stream_timeline(telephony_server):
    es, es_ref = clip_audio("es", 3)
    en, en_ref = clip_audio("en", 4)
    fr, fr_ref = clip_audio("fr", 2)
    # Part 1, stereo: the customer (external) speaks Spanish at 0.8 s, then the agent (internal) English.
    es_at = 0.8
    en_at = es_at + es.shape[1] / RATE + 0.6
    part1_s = en_at + en.shape[1] / RATE + 1.2
    external = np.concatenate([silence(es_at), es], axis=1)
    internal = np.concatenate([silence(en_at), en], axis=1)
    n1 = int(part1_s * RATE)
    part1 = np.concatenate([np.pad(external, ((0, 0), (0, n1 - external.shape[1]))),
                            np.pad(internal, ((0, 0), (0, n1 - internal.shape[1])))])
    # Part 2, after a pause whose audio Genesys discarded: the customer in French.
    fr_at = part1_s + DISCARDED_S + 0.5
    part2 = np.concatenate([silence(0.5), fr, silence(1.5)], axis=1)
    part2 = np.concatenate([part2, np.zeros_like(part2)])

    conversation_id = str(uuid.uuid4())
    hook = AudioHookPeer(f"{telephony_server.ws_base}/v1/ingest/audiohook", conversation_id, 2,
                         api_key=telephony_server.api_key, language="es-ES", supported_languages=True,
                         custom_config={"tenant": "default"})
    await hook.open()
    opened = await hook.reply("opened")
    assert opened["parameters"]["supportedLanguages"] == ["fr-FR", "ar-MA", "es-ES", "en-US", "pt-PT"]
    await hook.send(part1, Pacer(speed=0))
    await wait_quiet(hook, lambda: {e["channelId"] for e in entities(hook)} == {0, 1})
    await hook.send_message("paused", {})
    await hook.resume(discarded_s=DISCARDED_S)
    await hook.send_message("update", {"language": "fr-FR"})
    await hook.send(part2, Pacer(speed=0))
    await wait_quiet(hook, lambda: any(seconds(e["offset"]) > part1_s for e in entities(hook)))
    await hook.end("end")

    found = entities(hook)
    for data in found:
        assert_well_formed(data)
    spans = {"es": speech_span(es), "en": speech_span(en), "fr": speech_span(fr)}
    groups = {
        "es": (0, es_at, "es-ES", es_ref, WER_ES3),
        "en": (1, en_at, "en-US", en_ref, WER_EN4),
        "fr": (0, fr_at, "fr-FR", fr_ref, WER_FR2),
    }
    for name, (channel, at, tag, reference, bound) in groups.items():
        speech_from, speech_to = at + spans[name][0], at + spans[name][1]
        mine = sorted((d for d in found if d["channelId"] == channel
                       and speech_from - 2 < seconds(d["offset"]) < speech_to + 1), key=lambda d: seconds(d["offset"]))
        assert mine, f"no transcript for the {name} clip"
        first, last = seconds(mine[0]["offset"]), seconds(mine[-1]["offset"]) + seconds(mine[-1]["duration"])
        print(f"{name}: speech {speech_from:.2f}-{speech_to:.2f} s, transcripts {first:.2f}-{last:.2f} s")
        assert abs(first - speech_from) <= TIMING_TOLERANCE_S, (name, first, speech_from)
        assert abs(last - speech_to) <= TIMING_TOLERANCE_S, (name, last, speech_to)
        tokens = [t for d in mine for t in d["alternatives"][0]["interpretations"][0]["tokens"]]
        assert abs(seconds(tokens[0]["offset"]) - speech_from) <= TIMING_TOLERANCE_S
        assert all(d["alternatives"][0]["languages"] == [tag] for d in mine), (name, mine)
        text = " ".join(d["alternatives"][0]["interpretations"][0]["transcript"] for d in mine)
        assert_wer(reference, text, bound, f"audiohook transcript {name}")

    # The rest of Rafiq sees the call as before: segments for both speakers, words recorded.
    call = await wait_for_call_end(telephony_server.base_url, conversation_id, token=telephony_server.token)
    assert {s["speaker"] for s in call["segments"]} == {"customer", "agent"}
    assert len(call["segments"]) == len(found)
    events = await recorded_events(telephony_server.ws_base, conversation_id, token=telephony_server.token)
    finals = [e for e in events if e["type"] == "transcript.final"]
    assert finals and all(e["words"] for e in finals)


async def test_without_supported_languages_no_transcripts_are_sent(telephony_server):
    audio, _ = clip_audio("en", 3)
    conversation_id = str(uuid.uuid4())
    hook = AudioHookPeer(f"{telephony_server.ws_base}/v1/ingest/audiohook", conversation_id, 1,
                         api_key=telephony_server.api_key, custom_config={"tenant": "default"})
    await hook.open()
    opened = await hook.reply("opened")
    assert "supportedLanguages" not in opened["parameters"]
    await hook.send(np.concatenate([audio, silence(1.5)], axis=1), Pacer(speed=0))
    await hook.end("end")
    call = await wait_for_call_end(telephony_server.base_url, conversation_id, token=telephony_server.token)
    assert call["segments"] and not [r for r in hook.replies if r["type"] == "event"]
    assert all("words" not in s for s in call["segments"])  # no alignment cost for calls that don't ask
