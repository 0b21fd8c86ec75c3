"""Per-call compute: the speech model's time spent for each call and its energy estimate,
recorded on the call as a ``call.compute`` event just before it ends.

Energy is estimated, not measured: seconds the ASR device was busy for the call × the watts
configured for that device ÷ 3600 (Wh). See the README, "Per-call compute and energy", for what
the estimate leaves out.
"""

from __future__ import annotations

from typing import Any

from speech.engine import SpeechEngine

from .config import Settings


def asr_watts(settings: Settings, device: str) -> float:
    """The watts configured for ``device`` ("cpu" or "cuda"): RAFIQ_ASR_WATTS if set, else the
    device's default (RAFIQ_ASR_WATTS_CPU / RAFIQ_ASR_WATTS_CUDA)."""
    if settings.asr_watts > 0:
        return settings.asr_watts
    return settings.asr_watts_cuda if device == "cuda" else settings.asr_watts_cpu


def energy_wh(seconds: float, watts: float) -> float:
    return seconds * watts / 3600.0


class CallComputeObserver:
    """A ``CallObserver`` (``assistant.sessions``): starts counting the speech engine's time for
    a call when it starts and emits ``call.compute`` once its audio is transcribed."""

    def __init__(self, engine: SpeechEngine, device: str, watts: float):
        self.engine = engine
        self.device = device
        self.watts = watts

    async def on_event(self, session, event: dict[str, Any]) -> None:
        if event["type"] == "call.started":
            self.engine.track(session.call_id)
        elif event["type"] == "call.ended":
            self.engine.usage(session.call_id)  # a call whose end failed before on_end: stop counting it

    def event(self, call_id: str) -> dict[str, Any]:
        usage = self.engine.usage(call_id)
        encoder, decoder = (usage.encoder_s, usage.decoder_s) if usage else (0.0, 0.0)
        return {
            "type": "call.compute", "call_id": call_id, "device": self.device, "watts": self.watts,
            "asr_encoder_s": round(encoder, 4), "asr_decoder_s": round(decoder, 4),
            "asr_s": round(encoder + decoder, 4),
            "asr_audio_s": round(usage.audio_s, 3) if usage else 0.0, "asr_decodes": usage.decodes if usage else 0,
            "energy_wh": round(energy_wh(encoder + decoder, self.watts), 6),
        }

    async def on_end(self, session) -> None:
        event = self.event(session.call_id)
        if event["asr_decodes"]:  # a call with nothing to decode (silence) cost the model nothing
            await session.registry.emit(session.call_id, event)
