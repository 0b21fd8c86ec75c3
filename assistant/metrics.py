"""Prometheus metrics of this node (``GET /metrics``, the text format Prometheus scrapes), with
the maintained client library. Every series carries the ``node``; per-call series the ``tenant``.

Latencies are measured on the call's own timeline: end of speech → final is how much of the
channel's audio had arrived after the utterance's end when its final was published (at the
real-time pace telephony sends, that is wall-clock time); end of speech → suggestion likewise
for the customer's utterance a suggestion answers."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

LATENCY_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """A ``CallObserver`` (finals, suggestions, feedback, ends), the speech engine's ``on_wait``,
    a log handler counting errors by code, and a collector reading live state at each scrape."""

    def __init__(self, node: str, calls, engine):
        self.node = node
        self.calls = calls
        self.engine = engine
        self.registry = CollectorRegistry()
        self.final_latency = Histogram("rafiq_end_of_speech_to_final_seconds",
                                       "End of an utterance to its final transcript", ["node", "tenant"],
                                       buckets=LATENCY_BUCKETS, registry=self.registry)
        self.suggestion_latency = Histogram("rafiq_end_of_speech_to_suggestion_seconds",
                                            "End of a customer's utterance to the suggestion answering it",
                                            ["node", "tenant"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.engine_wait = Histogram("rafiq_engine_queue_wait_seconds", "Time a decode waited for the model",
                                     ["node", "kind"], buckets=WAIT_BUCKETS, registry=self.registry)
        self.suggestions = Counter("rafiq_suggestions", "Suggestions shown, and what agents did with them",
                                   ["node", "tenant", "outcome"], registry=self.registry)
        self.errors = Counter("rafiq_errors", "Refused or broken calls and connections, by error code",
                              ["node", "code"], registry=self.registry)
        self._ended_audio: dict[str, float] = defaultdict(float)  # tenant → channel-seconds of ended calls
        self._utterance_ends: dict[tuple[str, str], float] = {}  # (call, segment) → its end, until answered
        self.registry.register(_LiveState(self))
        self.error_handler = _ErrorCounter(self)

    def observe_wait(self, kind: str, seconds: float) -> None:
        self.engine_wait.labels(self.node, kind).observe(seconds)

    # -- CallObserver ----------------------------------------------------------------------------

    async def on_event(self, session, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "transcript.final":
            channel = session._channels.get(event["speaker"])
            if channel is not None:
                self.final_latency.labels(self.node, session.tenant).observe(max(0.0, channel.received_s - event["end"]))
            if event["speaker"] == "customer":
                self._utterance_ends[(session.call_id, event["segment_id"])] = event["end"]
        elif kind == "suggestion":
            end = self._utterance_ends.pop((session.call_id, event["for_segment_id"]), None)
            channel = session._channels.get("customer")
            if end is not None and channel is not None:
                self.suggestion_latency.labels(self.node, session.tenant).observe(max(0.0, channel.received_s - end))
            self.suggestions.labels(self.node, session.tenant, "shown").inc()
        elif kind == "suggestion.feedback":
            self.suggestions.labels(self.node, session.tenant, event["action"]).inc()

    async def on_late_event(self, call_id: str, event: dict[str, Any]) -> None:
        if event["type"] == "suggestion.feedback":
            self.suggestions.labels(self.node, "", event["action"]).inc()

    async def on_end(self, session) -> None:
        self._ended_audio[session.tenant] += sum(c.received_s for c in session.transcriber.channels)
        for key in [k for k in self._utterance_ends if k[0] == session.call_id]:
            del self._utterance_ends[key]

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _LiveState:
    """What is read from the node's state at each scrape."""

    def __init__(self, metrics: Metrics):
        self.m = metrics

    def collect(self):
        m = self.m
        live = GaugeMetricFamily("rafiq_live_calls", "Calls streaming on this node", labels=["node", "tenant"])
        audio = CounterMetricFamily("rafiq_audio_received_seconds", "Audio received, channel-seconds",
                                    labels=["node", "tenant"])
        per_tenant: dict[str, int] = defaultdict(int)
        seconds = defaultdict(float, m._ended_audio)
        for session in list(m.calls.live.values()):
            if session.finishing:
                continue  # counted with the ended calls from its on_end
            per_tenant[session.tenant] += 1
            seconds[session.tenant] += sum(c.received_s for c in session.transcriber.channels)
        for tenant, count in per_tenant.items():
            live.add_metric([m.node, tenant], count)
        if not per_tenant:
            live.add_metric([m.node, ""], 0)
        for tenant, value in seconds.items():
            audio.add_metric([m.node, tenant], value)
        yield live
        yield audio
        finals, partials = m.engine.pending()
        depth = GaugeMetricFamily("rafiq_engine_queue_depth", "Decodes waiting for the model", labels=["node", "kind"])
        depth.add_metric([m.node, "final"], finals)
        depth.add_metric([m.node, "partial"], partials)
        yield depth
        busy = CounterMetricFamily("rafiq_engine_busy_seconds", "Time the model spent decoding", labels=["node"])
        busy.add_metric([m.node], m.engine.busy_seconds)
        yield busy
        decoded = CounterMetricFamily("rafiq_engine_decoded_audio_seconds", "Audio the model decoded", labels=["node"])
        decoded.add_metric([m.node], m.engine.decoded_audio_seconds)
        yield decoded
        rtf = GaugeMetricFamily("rafiq_engine_rtf", "Decoding time over audio decoded since start "
                                "(rate() of the two counters gives it over a window)", labels=["node"])
        rtf.add_metric([m.node], m.engine.busy_seconds / m.engine.decoded_audio_seconds
                       if m.engine.decoded_audio_seconds else 0.0)
        yield rtf
        dropped = CounterMetricFamily("rafiq_dropped_partials", "Partials superseded before the model got to them",
                                      labels=["node"])
        dropped.add_metric([m.node], m.engine.dropped_partials)
        yield dropped
        draining = GaugeMetricFamily("rafiq_draining", "1 while the node drains (SIGTERM)", labels=["node"])
        draining.add_metric([m.node], 1 if m.calls.draining else 0)
        yield draining


class _ErrorCounter(logging.Handler):
    """Counts the log records that carry an error ``code`` (ingest refused, protocol errors, …)."""

    def __init__(self, metrics: Metrics):
        super().__init__(logging.INFO)
        self.m = metrics

    def emit(self, record: logging.LogRecord) -> None:
        code = getattr(record, "code", None)
        if isinstance(code, str) and code:
            self.m.errors.labels(self.m.node, code).inc()
