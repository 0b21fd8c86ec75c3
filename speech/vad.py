"""Voice activity: Silero VAD run incrementally, and end-pointing of utterances."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from faster_whisper.vad import get_vad_model

WINDOW = 512  # samples at 16 kHz (32 ms): the window Silero VAD v5+ expects
CONTEXT = 64


class StreamingVad:
    """Silero VAD that keeps its recurrent state between calls, so audio can arrive in any
    chunk size and each window is scored exactly once."""

    def __init__(self):
        # The ONNX session is shared by every stream of the process; the state is ours.
        self._session = get_vad_model().session
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def process(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability of each complete 512-sample window in the audio so far."""
        audio = np.concatenate([self._pending, audio.astype(np.float32, copy=False)])
        count = len(audio) // WINDOW
        self._pending = audio[count * WINDOW:]
        if count == 0:
            return np.zeros(0, dtype=np.float32)
        windows = audio[: count * WINDOW].reshape(count, WINDOW)
        contexts = np.concatenate([self._context[None, :], windows[:-1, -CONTEXT:]], axis=0)
        self._context = windows[-1, -CONTEXT:].copy()
        batch = np.concatenate([contexts, windows], axis=1)
        probs, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        return np.asarray(probs, dtype=np.float32).reshape(-1)


@dataclass
class EndpointerConfig:
    threshold: float = 0.5
    neg_threshold: float = 0.35
    min_speech_ms: int = 250
    min_silence_ms: int = 500
    speech_pad_ms: int = 200
    max_utterance_s: float = 20.0


@dataclass
class Utterance:
    """A span of speech in stream samples (16 kHz), ``end`` None while still open."""

    start: int
    end: int | None = None
    speech_windows: int = 0
    # Windows where a long utterance may be cut without splitting a word.
    pauses: list[int] = field(default_factory=list)


@dataclass
class VadEvent:
    kind: str  # "start" | "end" | "discard" (too short to be speech)
    utterance: Utterance


class Endpointer:
    """Turns per-window speech probabilities into utterance start/end events.

    An utterance ends after ``min_silence_ms`` below ``neg_threshold`` (hysteresis avoids
    flapping on soft syllables); one longer than ``max_utterance_s`` is cut at its last
    short pause so that each decode stays under Whisper's 30 s window.
    """

    def __init__(self, config: EndpointerConfig | None = None, sample_rate: int = 16000):
        self.config = config or EndpointerConfig()
        self._ms = sample_rate / 1000
        self._position = 0  # samples scored so far
        self._current: Utterance | None = None
        self._silence_run = 0
        self._candidate_start: int | None = None

    @property
    def in_speech(self) -> bool:
        return self._current is not None

    @property
    def current(self) -> Utterance | None:
        return self._current

    @property
    def trailing_silence_ms(self) -> float:
        """How long the open utterance has been silent (0 while speech goes on)."""
        return self._silence_run * WINDOW / self._ms if self._current is not None else 0.0

    def _min_speech_windows(self) -> int:
        # Rounded up: with 32 ms windows, 250 ms needs 8 (7 would keep a 224 ms blip).
        return max(1, math.ceil(self.config.min_speech_ms * self._ms / WINDOW))

    def likely_end(self) -> int | None:
        """Where the open utterance ends if the pause under way goes on: known (and all its
        audio received) once the pause is as long as the end padding."""
        if self._current is None or self._silence_run == 0:
            return None
        end = self._position - self._silence_run * WINDOW + int(self.config.speech_pad_ms * self._ms)
        return end if end <= self._position else None

    def skip_to(self, position: int) -> None:
        """Start counting samples at ``position`` (a stream continued from elsewhere), before any audio."""
        assert self._position == 0 and self._current is None
        self._position = position

    def update(self, probs: np.ndarray) -> list[VadEvent]:
        cfg = self.config
        events: list[VadEvent] = []
        pad = int(cfg.speech_pad_ms * self._ms)
        min_silence_windows = max(1, int(cfg.min_silence_ms * self._ms / WINDOW))
        min_speech_windows = self._min_speech_windows()
        max_samples = int(cfg.max_utterance_s * 1000 * self._ms)
        for prob in probs:
            window_start = self._position
            self._position += WINDOW
            utt = self._current
            if utt is None:
                if prob >= cfg.threshold:
                    utt = Utterance(start=max(0, window_start - pad))
                    self._current = utt
                    self._silence_run = 0
                    events.append(VadEvent("start", utt))
                    utt.speech_windows = 1
                continue
            if prob >= cfg.threshold or (prob >= cfg.neg_threshold and self._silence_run == 0):
                utt.speech_windows += 1
                if self._silence_run >= 3:
                    utt.pauses.append(window_start - self._silence_run * WINDOW // 2)
                self._silence_run = 0
            else:
                self._silence_run += 1
            if self._silence_run >= min_silence_windows:
                speech_end = self._position - self._silence_run * WINDOW
                utt.end = min(self._position, speech_end + pad)
                self._current = None
                if utt.speech_windows >= min_speech_windows:
                    events.append(VadEvent("end", utt))
                else:
                    events.append(VadEvent("discard", utt))
            elif self._position - utt.start >= max_samples:
                cut = utt.pauses[-1] if utt.pauses and utt.pauses[-1] > utt.start + max_samples // 2 else self._position
                utt.end = cut
                events.append(VadEvent("end", utt))
                follow = Utterance(start=cut, speech_windows=1)
                self._current = follow
                events.append(VadEvent("start", follow))
        return events

    def flush(self) -> list[VadEvent]:
        """End the open utterance at the end of the stream."""
        utt = self._current
        if utt is None:
            return []
        self._current = None
        utt.end = self._position
        min_speech_windows = self._min_speech_windows()
        return [VadEvent("end" if utt.speech_windows >= min_speech_windows else "discard", utt)]
