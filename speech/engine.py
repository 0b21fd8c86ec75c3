"""The speech engine: one Whisper model per process, shared by every call through a scheduler.

Each utterance is encoded once; that one encoder pass serves both language identification
(restricted to the campaign's languages) and decoding. Work from all calls is batched, finals
go before partials, and a partial that a newer one supersedes is dropped, never a final.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
MAX_UTTERANCE_SAMPLES = 30 * SAMPLE_RATE
ENCODER_STEP_FRAMES = 50  # a short encoder input is a multiple of half a second (100 frames a second)


@dataclass
class Recognition:
    text: str
    language: str
    language_probability: float
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    words: list[Word] | None = None  # with DecodeRequest.words: each word's time in the utterance
    # This utterance's share of its batch's model time (seconds): the encoder pass (split evenly:
    # every utterance is padded to 30 s) and the decoder (language detection split evenly,
    # generation in proportion to the tokens each produced).
    encoder_s: float = 0.0
    decoder_s: float = 0.0


@dataclass
class Word:
    """One word of a recognition, its times in seconds from the utterance's start (Whisper's
    cross-attention alignment) and the mean probability of its tokens."""

    text: str
    start: float
    end: float
    probability: float


@dataclass
class DecodeRequest:
    """One utterance to decode.

    ``language`` forces the language (no detection); else it is detected, leaning towards
    ``prior`` (the speaker's last language, or the hint before the first final). ``hint`` is
    the language the platform or the start message gave for the call: leaving it needs more
    evidence than leaving a detected language. ``prefix`` is text the transcript must start
    with: the words already shown to the agent as stable.
    """

    audio: np.ndarray
    language: str | None = None
    prior: str | None = None
    prefix: str = ""
    hint: str | None = None
    words: bool = False  # also align each word in time (Recognition.words); costs an encoder pass
    owner: str | None = None  # the call this decode is for: its model time is counted there


@dataclass
class ComputeUsage:
    """Model time spent for one call (see ``SpeechEngine.track``)."""

    encoder_s: float = 0.0
    decoder_s: float = 0.0
    audio_s: float = 0.0  # audio decoded (partials and speculative finals re-decode audio)
    decodes: int = 0


@dataclass
class DecodeOptions:
    beam_size: int = 5
    partial_beam_size: int = 1
    allowed_languages: tuple[str, ...] = ("fr", "ar", "es", "en", "pt")
    max_batch: int = 8
    # Encoder input shorter than Whisper's 30 s (CTranslate2 accepts it): the utterance plus this
    # much padding, with the decoder bounded to ``tokens_per_s`` (it does not stop on a short
    # input otherwise). None: padded to 30 s. Partials only feed the speculative search and the
    # grey text, so they may trade a little accuracy for speed; finals keep full padding unless
    # told (README "Speech engine": WER by padding).
    partial_pad_s: float | None = None
    final_pad_s: float | None = None
    tokens_per_s: float = 5.0
    # Leave the channel's current language only for a clearly more likely one: one short or
    # noisy utterance should not flip a French speaker to Portuguese. The share of the
    # probability (among allowed_languages) the new language needs is
    # language_switch_probability for utterances of long_utterance_s or more, rising linearly
    # to short_switch_probability at short_utterance_s and below: Whisper's language
    # identification on 1 s of speech is wrong far more often than on 5 s (README, "Speech
    # engine"). Leaving the call's hinted language needs at least hint_switch_probability.
    language_switch_probability: float = 0.75
    short_switch_probability: float = 0.95
    short_utterance_s: float = 1.0
    long_utterance_s: float = 3.0
    hint_switch_probability: float = 0.9

    def switch_threshold(self, duration_s: float, leaving_hint: bool = False) -> float:
        """The share a language needs to replace the speaker's current one on an utterance of
        ``duration_s`` seconds (``leaving_hint``: the current one is the call's hint, or the
        new one is not)."""
        short, long_ = self.short_utterance_s, self.long_utterance_s
        if duration_s >= long_:
            need = self.language_switch_probability
        elif duration_s <= short:
            need = self.short_switch_probability
        else:
            weight = (long_ - duration_s) / (long_ - short)
            need = self.language_switch_probability + weight * (self.short_switch_probability
                                                                 - self.language_switch_probability)
        return max(need, self.hint_switch_probability) if leaving_hint else need


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data)))


class WhisperRecognizer:
    """Batch decoding of whole utterances (each at most 30 s) on a faster-whisper model."""

    def __init__(self, model: WhisperModel, options: DecodeOptions):
        self.model = model
        self.options = options
        self._tokenizers: dict[str, Tokenizer] = {}
        supported = set(model.supported_languages)
        unknown = [lang for lang in options.allowed_languages if lang not in supported]
        if unknown:
            raise ValueError(f"languages not supported by the ASR model: {', '.join(unknown)}")

    def _tokenizer(self, language: str) -> Tokenizer:
        if language not in self._tokenizers:
            self._tokenizers[language] = Tokenizer(
                self.model.hf_tokenizer, self.model.model.is_multilingual, task="transcribe", language=language
            )
        return self._tokenizers[language]

    def pick_language(self, ranked: list[tuple[str, float]], prior: str | None, duration_s: float,
                      hint: str | None = None) -> tuple[str, float]:
        """The utterance's language from Whisper's ranked language tokens (``[("<|fr|>", p), …]``)
        and its share among the allowed languages. The speaker's current language (``prior``,
        else ``hint``) is kept unless another is more likely by the margin that
        ``DecodeOptions.switch_threshold`` sets for this duration."""
        allowed = self.options.allowed_languages
        probs = {token[2:-2]: prob for token, prob in ranked}
        total = sum(probs.get(lang, 0.0) for lang in allowed) or 1.0
        # Renormalised over the allowed set: how sure we are among the languages that matter.
        share = {lang: probs.get(lang, 0.0) / total for lang in allowed}
        language = max(share, key=share.get)
        current = prior if prior in share else hint if hint in share else None
        if current is not None and language != current:
            leaving_hint = hint in share and language != hint
            if share[language] < self.options.switch_threshold(duration_s, leaving_hint):
                language = current
        return language, share[language]

    def recognize(self, batch: list[DecodeRequest], beam_size: int, pad_s: float | None = None) -> list[Recognition]:
        fe = self.model.feature_extractor
        features = [fe(request.audio[:MAX_UTTERANCE_SAMPLES]) for request in batch]
        frames, max_length = 3000, self.model.max_length
        if pad_s is not None:
            longest = max(f.shape[-1] for f in features)
            # Rounded up to half seconds (an even number of frames: the encoder's convolution
            # halves them): a few dozen encoder shapes, not one per utterance length, so the native
            # libraries' per-shape caches and buffers stay bounded on a long-running node.
            frames = min(3000, -(-(longest + int(pad_s * 100)) // ENCODER_STEP_FRAMES) * ENCODER_STEP_FRAMES)
            seconds = longest / 100
            max_length = min(self.model.max_length, int(self.options.tokens_per_s * seconds + 12))
        features = np.stack([pad_or_trim(f, frames) for f in features])
        # CTranslate2's calls return once their result is computed, so wall time around each one
        # is that stage's time (the features above are not counted: a few ms on the CPU).
        started = time.perf_counter()
        encoder_output = self.model.encode(features)
        encoded = time.perf_counter()
        languages: list[tuple[str, float]] = []
        need_detection = any(request.language is None for request in batch)
        detected = self.model.model.detect_language(encoder_output) if need_detection else []
        detection_s = time.perf_counter() - encoded
        for i, request in enumerate(batch):
            if request.language is not None:
                languages.append((request.language, 1.0))
            else:
                duration = min(len(request.audio), MAX_UTTERANCE_SAMPLES) / SAMPLE_RATE
                languages.append(self.pick_language(detected[i], request.prior, duration, request.hint))
        prompts = []
        for request, (language, _) in zip(batch, languages):
            tokenizer = self._tokenizer(language)
            # Prefix tokens are forced, then generation continues them; they come back in the result.
            prefix = tokenizer.encode(" " + request.prefix.strip()) if request.prefix.strip() else []
            prompts.append(list(tokenizer.sot_sequence) + [tokenizer.no_timestamps] + prefix)
        if pad_s is not None:
            max_length = min(self.model.max_length, max_length + max(len(p) for p in prompts))
        results = self.model.model.generate(
            encoder_output,
            prompts,
            beam_size=beam_size,
            max_length=max_length,
            suppress_blank=True,
            suppress_tokens=[-1],
            return_scores=True,
            return_no_speech_prob=True,
        )
        generation_s = time.perf_counter() - encoded - detection_s
        tokens = [max(1, len(result.sequences_ids[0])) for result in results]
        encoder_share = (encoded - started) / len(batch)
        out = []
        for index, ((language, lang_prob), result) in enumerate(zip(languages, results)):
            text_tokens = [t for t in result.sequences_ids[0] if t < self._tokenizer(language).eot]
            text = self._tokenizer(language).decode(text_tokens).strip()
            seq_len = len(result.sequences_ids[0])
            avg_logprob = result.scores[0] * (seq_len ** 1.0) / (seq_len + 1)
            words = self._align(batch[len(out)], features[len(out)], language, text_tokens) \
                if batch[len(out)].words else None
            out.append(Recognition(
                words=words,
                text=text,
                language=language,
                language_probability=float(lang_prob),
                avg_logprob=float(avg_logprob),
                no_speech_prob=float(result.no_speech_prob),
                compression_ratio=compression_ratio(text),
                encoder_s=encoder_share,
                decoder_s=detection_s / len(batch) + generation_s * tokens[index] / sum(tokens),
            ))
        return out

    def _align(self, request: DecodeRequest, features: np.ndarray, language: str, tokens: list[int]) -> list[Word]:
        """Word timings of ``tokens`` decoded from ``request.audio`` (faster-whisper's alignment)."""
        if not tokens:
            return []
        duration = min(len(request.audio), MAX_UTTERANCE_SAMPLES) / SAMPLE_RATE
        num_frames = min(len(request.audio), MAX_UTTERANCE_SAMPLES) // self.model.feature_extractor.hop_length
        # The batch's encoder output cannot be sliced per item: one more encoder pass, for the
        # requests that asked for words only (AudioHook's transcription connector).
        encoded = self.model.encode(features[np.newaxis])
        aligned = self.model.find_alignment(self._tokenizer(language), [tokens], encoded, num_frames)[0]
        words: list[Word] = []
        for w in aligned:
            text = w["word"].strip()
            if not text:
                continue
            if words and (not w["word"].startswith(" ") or not any(ch.isalnum() for ch in text)):
                # Whisper starts each word with a space: the rest (punctuation, the "'on" of "qu'on")
                # belongs to the word before, which then lasts until it ends.
                words[-1].text += text
                words[-1].end = round(min(float(w["end"]), duration), 3)
                continue
            words.append(Word(text=text, start=round(min(float(w["start"]), duration), 3),
                              end=round(min(float(w["end"]), duration), 3), probability=round(float(w["probability"]), 3)))
        return words


@dataclass(order=True)
class _Job:
    priority: int
    seq: int
    request: DecodeRequest = field(compare=False)
    future: asyncio.Future = field(compare=False)
    stream_key: str | None = field(compare=False, default=None)
    queued_at: float = field(compare=False, default_factory=time.perf_counter)


FINAL, PARTIAL = 0, 1


class SpeechEngine:
    """Async front of the recognizer: one worker thread owns the model; callers await results.

    ``recognize_final`` always completes. ``recognize_partial`` returns None when the job was
    superseded by a newer partial of the same stream before the model got to it (the
    backpressure valve when the model is behind).
    """

    def __init__(self, recognizer: WhisperRecognizer):
        self.recognizer = recognizer
        self._finals: list[_Job] = []
        self._partials: dict[str, _Job] = {}
        self._seq = 0
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr")
        self._lock = threading.Lock()
        self.busy_seconds = 0.0
        self.decoded_audio_seconds = 0.0
        self.dropped_partials = 0
        self._usage: dict[str, ComputeUsage] = {}  # tracked call → its model time so far
        # Told (kind "final" or "partial", seconds queued) as each job reaches the model (metrics).
        self.on_wait: Callable[[str, float], None] | None = None

    def track(self, owner: str) -> None:
        """Count the model time of decodes for ``owner`` (a call id) until ``usage`` takes it."""
        self._usage.setdefault(owner, ComputeUsage())

    def usage(self, owner: str) -> ComputeUsage | None:
        """The model time spent for ``owner`` since ``track``, and stop counting it."""
        return self._usage.pop(owner, None)

    def _ensure_worker(self) -> None:
        if self._worker is None or self._worker.done():
            self._wake = asyncio.Event()
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="asr-scheduler")

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def recognize_final(self, request: DecodeRequest) -> Recognition:
        self._ensure_worker()
        job = _Job(FINAL, self._next_seq(), request, asyncio.get_running_loop().create_future())
        self._finals.append(job)
        self._wake.set()
        return await job.future

    async def recognize_partial(self, stream_key: str, request: DecodeRequest) -> Recognition | None:
        self._ensure_worker()
        job = _Job(PARTIAL, self._next_seq(), request, asyncio.get_running_loop().create_future(), stream_key)
        previous = self._partials.pop(stream_key, None)
        if previous is not None and not previous.future.done():
            previous.future.set_result(None)
            self.dropped_partials += 1
        self._partials[stream_key] = job
        self._wake.set()
        return await job.future

    def pending(self) -> tuple[int, int]:
        return len(self._finals), len(self._partials)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        max_batch = self.recognizer.options.max_batch
        while True:
            if not self._finals and not self._partials:
                self._wake.clear()
                await self._wake.wait()
            if self._finals:
                jobs, self._finals = self._finals[:max_batch], self._finals[max_batch:]
                beam = self.recognizer.options.beam_size
                pad_s = self.recognizer.options.final_pad_s
            else:
                ordered = sorted(self._partials.values())[:max_batch]
                for job in ordered:
                    del self._partials[job.stream_key]
                jobs = ordered
                beam = self.recognizer.options.partial_beam_size
                pad_s = self.recognizer.options.partial_pad_s
            jobs = [j for j in jobs if not j.future.done()]
            if not jobs:
                continue
            started = time.perf_counter()
            if self.on_wait is not None:
                for job in jobs:
                    self.on_wait("final" if job.priority == FINAL else "partial", started - job.queued_at)
            try:
                results = await loop.run_in_executor(
                    self._executor, self.recognizer.recognize, [j.request for j in jobs], beam, pad_s
                )
            except Exception as exc:  # a broken batch must not hang its callers
                log.exception("ASR batch failed")
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            self.busy_seconds += time.perf_counter() - started
            for job, result in zip(jobs, results):
                self.decoded_audio_seconds += len(job.request.audio) / SAMPLE_RATE
                usage = self._usage.get(job.request.owner) if job.request.owner is not None else None
                if usage is not None:
                    usage.encoder_s += result.encoder_s
                    usage.decoder_s += result.decoder_s
                    usage.audio_s += len(job.request.audio) / SAMPLE_RATE
                    usage.decodes += 1
                if not job.future.done():
                    job.future.set_result(result)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
