"""Play an audio file as a live call: over the native ingest WebSocket, or as a telephony platform
(Twilio, Genesys AudioHook, Asterisk AudioSocket, FreeSWITCH) would send it (real-time pace or faster)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import urlsplit

import numpy as np
import websockets

import soxr

from speech.audio import TARGET_RATE, decode_file, float_to_mulaw, float_to_pcm16

log = logging.getLogger(__name__)


def default_roles(channels: int) -> list[str]:
    return ["customer", "agent"][:channels]


def encode_audio(audio: np.ndarray, encoding: str, sample_rate: int) -> bytes:
    """16 kHz float (channels, n) → interleaved wire bytes in ``encoding`` at ``sample_rate``."""
    if sample_rate != TARGET_RATE:
        audio = np.stack([soxr.resample(row, TARGET_RATE, sample_rate) for row in audio])
    interleaved = audio.T.reshape(-1)
    return float_to_mulaw(interleaved) if encoding == "pcm_mulaw" else float_to_pcm16(interleaved)


async def stream_audio(audio: np.ndarray, url: str, roles: list[str] | None = None, speed: float = 1.0,
                       language: str | None = None, tenant: str | None = None, frame_ms: int = 100,
                       encoding: str = "pcm_s16le", sample_rate: int = TARGET_RATE,
                       on_frame: Callable[[float], Awaitable[None] | None] | None = None,
                       api_key: str | None = None, agent: str | None = None, campaign: str | None = None) -> dict:
    """Stream float32 (channels, n) 16 kHz audio to ``url``; returns what the server said at the end.

    ``api_key``: an ingest API key (``rafiq apikeys create``), sent as a bearer token. ``agent``:
    the username of the agent who takes the call (their panel follows it).

    The audio goes out as ``encoding`` at ``sample_rate`` (e.g. 8 kHz mu-law, as telephony
    sends it). ``on_frame(audio_seconds_sent)`` is called after each frame (benchmarks time
    against it).
    """
    channels = audio.shape[0]
    roles = roles or default_roles(channels)
    wire = encode_audio(audio, encoding, sample_rate)
    bytes_per_second = sample_rate * channels * (1 if encoding == "pcm_mulaw" else 2)
    frame_bytes = bytes_per_second * frame_ms // 1000
    start = {"type": "start", "encoding": encoding, "sample_rate": sample_rate, "channels": channels,
             "roles": roles[:channels], "language": language}
    if tenant is not None:
        start["tenant"] = tenant
    if agent is not None:
        start["agent"] = agent
    if campaign is not None:
        start["campaign"] = campaign  # the call's campaign (its suggestions, its dashboard figures)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    errors: list[dict] = []
    async with websockets.connect(url, max_size=None, open_timeout=30, additional_headers=headers) as ws:
        await ws.send(json.dumps(start))
        began = time.monotonic()
        try:
            for offset in range(0, len(wire), frame_bytes):
                await ws.send(wire[offset:offset + frame_bytes])
                sent_seconds = min(len(wire), offset + frame_bytes) / bytes_per_second
                if on_frame is not None:
                    result = on_frame(sent_seconds)
                    if asyncio.iscoroutine(result):
                        await result
                if speed > 0:
                    delay = began + sent_seconds / speed - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
            await ws.send(json.dumps({"type": "stop"}))
        except websockets.ConnectionClosed:
            pass  # the server refused or ended the call: its error frame is read below
        try:
            async for message in ws:  # the server closes once the call is fully processed
                if isinstance(message, str):
                    payload = json.loads(message)
                    if payload.get("type") == "error":
                        errors.append(payload)
        except websockets.ConnectionClosed:
            pass
        return {"close_code": ws.close_code, "errors": errors, "seconds": len(wire) / bytes_per_second}


async def stream_file(path: str | Path, url: str, roles: list[str] | None = None, speed: float = 1.0,
                      language: str | None = None, tenant: str | None = None, api_key: str | None = None,
                      agent: str | None = None) -> dict:
    audio = decode_file(path)
    log.info("simulating call", extra={"file": str(path), "url": url, "seconds": round(audio.shape[1] / TARGET_RATE, 2),
                                       "channels": audio.shape[0], "speed": speed})
    return await stream_audio(audio, url, roles=roles, speed=speed, language=language, tenant=tenant,
                              api_key=api_key, agent=agent)


# --- Telephony peers: the same audio as a PBX / CCaaS platform would send it -------------------

FRAME_S = 0.020  # every platform here sends 20 ms packets


def to_rate(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """16 kHz float (channels, n) → float (channels, m) at ``sample_rate``."""
    if sample_rate == TARGET_RATE:
        return audio
    return np.stack([soxr.resample(row, TARGET_RATE, sample_rate) for row in audio]).astype(np.float32)


def frames_of(audio: np.ndarray, sample_rate: int) -> list[np.ndarray]:
    """(channels, n) at ``sample_rate`` → consecutive 20 ms (channels, k) frames."""
    step = int(sample_rate * FRAME_S)
    return [audio[:, offset:offset + step] for offset in range(0, audio.shape[1], step)]


class Pacer:
    """Sends at real-time pace times ``speed`` (0 = as fast as possible)."""

    def __init__(self, speed: float):
        self.speed = speed
        self.began = time.monotonic()
        self.sent_s = 0.0

    async def tick(self, seconds: float) -> None:
        self.sent_s += seconds
        if self.speed > 0:
            delay = self.began + self.sent_s / self.speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)


class TelephonyPeer:
    """A platform's side of one connection: ``open``, ``send`` audio, then ``end`` (the platform's
    explicit stop/close/hangup) or ``drop`` (the connection breaks)."""

    sample_rate = 8000
    result: dict

    async def open(self) -> None: ...

    async def send(self, audio: np.ndarray, pacer: Pacer) -> None:
        """16 kHz float (channels, n), in 20 ms packets at the pacer's pace."""
        for frame in frames_of(to_rate(audio, self.sample_rate), self.sample_rate):
            await self.send_frame(frame)
            await pacer.tick(frame.shape[1] / self.sample_rate)

    async def send_frame(self, frame: np.ndarray) -> None: ...

    async def end(self) -> None: ...

    async def drop(self) -> None: ...


def _abort_ws(ws) -> None:
    ws.transport.abort()  # no close frame: what a network failure looks like to the server


def twilio_signature(auth_token: str, signed_url: str) -> str:
    """X-Twilio-Signature as Twilio computes it for a Media Streams upgrade (the URL, no parameters)."""
    from twilio.request_validator import RequestValidator
    return RequestValidator(auth_token).compute_signature(signed_url, {})


def audiohook_signature_headers(url: str, headers: dict[str, str], api_key: str, client_secret: str,
                                nonce: str | None = None, created=None) -> dict[str, str]:
    """Signature-Input and Signature (RFC 9421, hmac-sha256) over ``url`` and ``headers`` as Genesys
    signs an AudioHook upgrade: keyid = the API key, a fresh nonce, the AudioHook components."""
    import base64
    import secrets
    from urllib.parse import urlsplit as split

    from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms

    from .telephony.auth import AUDIOHOOK_COMPONENTS, SignedRequest

    class Secret(HTTPSignatureKeyResolver):
        def resolve_private_key(self, key_id: str):
            return base64.b64decode(client_secret)

        resolve_public_key = resolve_private_key

    parts = split(url)
    scheme = "https" if parts.scheme in ("wss", "https") else "http"
    request = SignedRequest("GET", parts._replace(scheme=scheme).geturl(), {**headers, "X-API-KEY": api_key})
    HTTPMessageSigner(signature_algorithm=algorithms.HMAC_SHA256, key_resolver=Secret()).sign(
        request, key_id=api_key, nonce=nonce or secrets.token_urlsafe(24), created=created, label="sig1",
        covered_component_ids=AUDIOHOOK_COMPONENTS)
    return {name: value for name, value in request.headers.items() if name.lower().startswith("signature")}


class TwilioPeer(TelephonyPeer):
    """Twilio Media Streams: connected, start, media (base64 mu-law per track), stop. With an
    ``auth_token`` the upgrade carries X-Twilio-Signature over ``signed_url`` (the URL Twilio was
    given: RAFIQ_PUBLIC_URL + path; default the URL connected to)."""

    def __init__(self, url: str, call_sid: str, channels: int, custom_parameters: dict[str, str] | None = None,
                 stream_sid: str | None = None, auth_token: str = "", signed_url: str | None = None):
        self.url = url
        self.auth_token = auth_token
        self.signed_url = signed_url or url
        self.call_sid = call_sid
        self.stream_sid = stream_sid or "MZ" + uuid.uuid4().hex
        self.tracks = ["inbound", "outbound"][:channels]
        self.custom_parameters = custom_parameters or {}
        self.sequence = 0
        self.chunk = 0
        self.ws = None
        self.result = {"errors": [], "close_code": None}

    async def _send(self, message: dict) -> None:
        self.sequence += 1
        await self.ws.send(json.dumps({**message, "sequenceNumber": str(self.sequence)}))

    async def open(self) -> None:
        headers = {"X-Twilio-Signature": twilio_signature(self.auth_token, self.signed_url)} if self.auth_token else None
        self.ws = await websockets.connect(self.url, max_size=None, open_timeout=30, additional_headers=headers)
        await self.ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await self._send({"event": "start", "streamSid": self.stream_sid, "start": {
            "accountSid": "AC" + "0" * 32, "streamSid": self.stream_sid, "callSid": self.call_sid,
            "tracks": self.tracks, "customParameters": self.custom_parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})

    async def send_frame(self, frame: np.ndarray) -> None:
        self.chunk += 1
        timestamp = str(int((self.chunk - 1) * FRAME_S * 1000))
        for track, samples in zip(self.tracks, frame):
            payload = base64.b64encode(float_to_mulaw(samples)).decode("ascii")
            await self._send({"event": "media", "streamSid": self.stream_sid, "media": {
                "track": track, "chunk": str(self.chunk), "timestamp": timestamp, "payload": payload}})

    async def end(self) -> None:
        await self._send({"event": "stop", "streamSid": self.stream_sid,
                          "stop": {"accountSid": "AC" + "0" * 32, "callSid": self.call_sid}})
        await self._wait_closed()

    async def _wait_closed(self) -> None:
        try:
            async for _ in self.ws:
                pass  # Twilio's unidirectional streams get nothing back
        except websockets.ConnectionClosed:
            pass
        self.result["close_code"] = self.ws.close_code
        if self.ws.close_code != 1000:
            self.result["errors"].append({"code": str(self.ws.close_code), "message": self.ws.close_reason})

    async def drop(self) -> None:
        _abort_ws(self.ws)


class AudioHookPeer(TelephonyPeer):
    """Genesys AudioHook v2 client: open → opened, PCMU frames (external, internal), ping, close."""

    def __init__(self, url: str, conversation_id: str, channels: int, api_key: str = "",
                 language: str | None = None, custom_config: dict | None = None,
                 continued_sessions: list[dict] | None = None, client_secret: str = "",
                 supported_languages: bool = False, participant: dict | None = None,
                 session_id: str | None = None, headers: dict[str, str] | None = None, signed_at=None):
        self.url = url
        # headers: send exactly these on the upgrade (a captured request replayed); signed_at: the
        # signature's "created" time (default now). sent_headers: what the upgrade carried.
        self.fixed_headers = headers
        self.signed_at = signed_at
        self.sent_headers: dict[str, str] = {}
        self.client_secret = client_secret  # base64, as Genesys shows it: the upgrade is signed
        self.supported_languages = supported_languages  # the transcription connector's open
        self.participant = participant
        self.skipped_s = 0.0  # paused or discarded audio: counts in positions, never sent
        self.conversation_id = conversation_id
        self.session_id = session_id or str(uuid.uuid4())
        self.channels = ["external", "internal"][:channels]
        self.api_key = api_key
        self.language = language
        self.custom_config = custom_config or {}
        self.continued_sessions = continued_sessions
        self.seq = 0
        self.serverseq = 0
        self.samples = 0
        self.ws = None
        self.replies: list[dict] = []
        self._reader: asyncio.Task | None = None
        self._arrived = asyncio.Event()
        self.result = {"errors": [], "close_code": None, "replies": self.replies}

    @property
    def position(self) -> str:
        return f"PT{self.samples / 8000 + self.skipped_s:.3f}S"

    async def resume(self, discarded_s: float = 0.0) -> None:
        """``resumed`` after a pause during which ``discarded_s`` of audio went unsent."""
        start = self.position
        self.skipped_s += discarded_s
        await self.send_message("resumed", {"start": start, "discarded": f"PT{discarded_s:.3f}S"})

    async def discard(self, seconds: float) -> None:
        """``discarded``: ``seconds`` of audio the client dropped (it fell behind)."""
        start = self.position
        self.skipped_s += seconds
        await self.send_message("discarded", {"start": start, "discarded": f"PT{seconds:.3f}S"})

    async def send_message(self, type_: str, parameters: dict) -> None:
        self.seq += 1
        await self.ws.send(json.dumps({"version": "2", "id": self.session_id, "type": type_, "seq": self.seq,
                                       "serverseq": self.serverseq, "position": self.position,
                                       "parameters": parameters}))

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                reply = json.loads(message)
                self.serverseq = reply.get("seq", self.serverseq)
                self.replies.append(reply)
                if reply.get("type") == "disconnect":
                    self.result["errors"].append({"code": reply["parameters"].get("reason"),
                                                  "message": reply["parameters"].get("info", "")})
                self._arrived.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self._arrived.set()

    async def reply(self, *types: str, timeout: float = 30) -> dict:
        """The first server message of one of these types (waits for it)."""
        async def find():
            while True:
                for reply in self.replies:
                    if reply.get("type") in types:
                        return reply
                if self._reader.done():
                    raise ConnectionError(f"closed before {'/'.join(types)}")
                self._arrived.clear()
                await self._arrived.wait()
        return await asyncio.wait_for(find(), timeout)

    async def connect(self) -> None:
        headers = {"Audiohook-Organization-Id": str(uuid.UUID(int=1)), "Audiohook-Correlation-Id": str(uuid.uuid4()),
                   "Audiohook-Session-Id": self.session_id}
        if self.api_key:
            headers["X-API-KEY"] = self.api_key
        if self.client_secret:
            headers.update(audiohook_signature_headers(self.url, headers, self.api_key, self.client_secret,
                                                       created=self.signed_at))
        if self.fixed_headers is not None:
            headers = dict(self.fixed_headers)
        self.sent_headers = headers
        self.ws = await websockets.connect(self.url, max_size=None, open_timeout=30, additional_headers=headers)
        self._reader = asyncio.ensure_future(self._read())

    async def open(self) -> None:
        await self.connect()
        offers = [{"type": "audio", "format": "PCMU", "channels": self.channels, "rate": 8000}]
        if len(self.channels) == 2:  # Genesys offers the stereo pair first, then each side alone
            offers += [{"type": "audio", "format": "PCMU", "channels": [c], "rate": 8000} for c in self.channels]
        parameters = {"organizationId": str(uuid.UUID(int=1)), "conversationId": self.conversation_id,
                      "participant": self.participant or {"id": str(uuid.uuid4()), "ani": "+33100000000", "aniName": "",
                                                          "dnis": "+33900000000"},
                      "media": offers, "language": self.language, "customConfig": self.custom_config}
        if self.supported_languages:
            parameters["supportedLanguages"] = True
        if self.continued_sessions:
            parameters["continuedSessions"] = self.continued_sessions
        await self.send_message("open", parameters)
        await self.reply("opened", "disconnect")  # a disconnect lands in result["errors"]

    async def send_frame(self, frame: np.ndarray) -> None:
        await self.ws.send(float_to_mulaw(frame.T.reshape(-1)))
        self.samples += frame.shape[1]

    async def ping(self) -> dict:
        before = len([r for r in self.replies if r.get("type") == "pong"])
        await self.send_message("ping", {"rtt": "PT0.01S"})
        for _ in range(300):
            pongs = [r for r in self.replies if r.get("type") == "pong"]
            if len(pongs) > before:
                return pongs[-1]
            await asyncio.sleep(0.01)
        raise TimeoutError("no pong")

    async def end(self, reason: str = "end") -> None:
        began = time.monotonic()
        await self.send_message("close", {"reason": reason})
        await self.reply("closed")
        self.result["closed_after_s"] = time.monotonic() - began  # the server's answer time to close
        await self.ws.close()
        await self._reader
        self.result["close_code"] = self.ws.close_code

    async def drop(self) -> None:
        _abort_ws(self.ws)
        self._reader.cancel()


class FreeSwitchPeer(TelephonyPeer):
    """mod_audio_fork / mod_audio_stream: metadata text frame, then L16 frames; stop closes (1000)."""

    def __init__(self, url: str, call_id: str, channels: int, sample_rate: int = 8000,
                 metadata: dict | None = None, token: str = ""):
        from urllib.parse import quote
        self.sample_rate = sample_rate
        self.mix = "stereo" if channels == 2 else "mono"
        # RAFIQ_FREESWITCH_TOKEN goes in the URL, as a dialplan's uuid_audio_fork URL carries it.
        self.url = f"{url}?sample_rate={sample_rate}&mix={self.mix}" + (f"&token={quote(token, safe='')}" if token else "")
        self.metadata = {"callId": call_id, "sampleRate": sample_rate, "mix": self.mix, **(metadata or {})}
        self.ws = None
        self.result = {"errors": [], "close_code": None}

    async def open(self) -> None:
        self.ws = await websockets.connect(self.url, max_size=None, open_timeout=30)
        await self.ws.send(json.dumps(self.metadata))

    async def send_frame(self, frame: np.ndarray) -> None:
        await self.ws.send(float_to_pcm16(frame.T.reshape(-1)))

    async def end(self) -> None:
        await self.ws.close(1000)
        self.result["close_code"] = self.ws.close_code

    async def read_errors(self) -> None:
        try:
            async for message in self.ws:
                if isinstance(message, str) and json.loads(message).get("type") == "error":
                    self.result["errors"].append(json.loads(message))
        except websockets.ConnectionClosed:
            pass
        self.result["close_code"] = self.ws.close_code

    async def drop(self) -> None:
        _abort_ws(self.ws)


class AudioSocketPeer(TelephonyPeer):
    """Asterisk AudioSocket: one TCP connection per channel (port, port+1), UUID, slin frames, hangup."""

    def __init__(self, host: str, port: int, call_uuid: str, channels: int, kind: int = 0x10):
        from .telephony.audiosocket import AUDIO_RATES
        self.host = host
        self.port = port
        self.uuid = uuid.UUID(call_uuid)
        self.channels = channels
        self.kind = kind
        self.sample_rate = AUDIO_RATES[kind]
        self.streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.result = {"errors": [], "close_code": None}

    async def open(self) -> None:
        from .telephony.audiosocket import KIND_UUID, message
        for channel in range(self.channels):
            reader, writer = await asyncio.open_connection(self.host, self.port + channel)
            writer.write(message(KIND_UUID, self.uuid.bytes))
            self.streams.append((reader, writer))

    async def send_frame(self, frame: np.ndarray) -> None:
        from .telephony.audiosocket import message
        for (_, writer), samples in zip(self.streams, frame):
            writer.write(message(self.kind, float_to_pcm16(samples)))
            await writer.drain()

    async def end(self) -> None:
        from .telephony.audiosocket import HANGUP_MESSAGE
        for reader, writer in self.streams:
            writer.write(HANGUP_MESSAGE)
            await writer.drain()
        for reader, writer in self.streams:
            await reader.read()  # the server closes once it has the hangup
            writer.close()

    async def drop(self) -> None:
        for _, writer in self.streams:
            writer.transport.abort()


def new_platform_call_id(protocol: str) -> str:
    """An id of the platform's own form (Twilio call SIDs are CA + 32 hex; the others UUIDs)."""
    return "CA" + uuid.uuid4().hex if protocol == "twilio" else str(uuid.uuid4())


def make_peer(protocol: str, base_url: str, call_id: str, channels: int, *, tenant: str = "default",
              language: str | None = None, audiosocket_port: int = 9092, api_key: str = "",
              sample_rate: int = 8000, secret: str = "", public_url: str = "") -> TelephonyPeer:
    """The peer that speaks ``protocol`` to the Rafiq server at ``base_url`` (http://host:port).

    ``secret`` signs the connection as the platform would: the Twilio auth token (over
    ``public_url`` + path, as RAFIQ_PUBLIC_URL says Twilio reaches Rafiq), the AudioHook client
    secret (base64) or the FreeSWITCH token."""
    base = base_url.rstrip("/")
    ws_base = "ws" + base[4:] if base.startswith("http") else base
    if protocol == "twilio":
        params = {"tenant": tenant, **({"language": language} if language else {})}
        url = f"{ws_base}/v1/ingest/twilio"
        signed = public_url.rstrip("/") + "/v1/ingest/twilio" if public_url else url
        return TwilioPeer(url, call_id, channels, params, auth_token=secret, signed_url=signed)
    if protocol == "audiohook":
        return AudioHookPeer(f"{ws_base}/v1/ingest/audiohook", call_id, channels, api_key=api_key,
                             language=language, custom_config={"tenant": tenant}, client_secret=secret)
    if protocol == "freeswitch":
        return FreeSwitchPeer(f"{ws_base}/v1/ingest/freeswitch", call_id, channels, sample_rate,
                              {"tenant": tenant, **({"language": language} if language else {})}, token=secret)
    if protocol == "audiosocket":
        host = urlsplit(base).hostname or "127.0.0.1"
        return AudioSocketPeer(host, audiosocket_port, call_id, channels)
    raise ValueError(f"unknown protocol {protocol!r}")


async def play(peer: TelephonyPeer, audio: np.ndarray, speed: float = 1.0) -> dict:
    """Open, send all of ``audio`` at ``speed`` (1 = real time), end; what the server answered."""
    await peer.open()
    if peer.result["errors"]:
        return peer.result
    pacer = Pacer(speed)
    try:
        await peer.send(audio, pacer)
        await peer.end()
    except (websockets.ConnectionClosed, ConnectionError) as exc:
        if isinstance(peer, FreeSwitchPeer):
            await peer.read_errors()  # the server's error frame came before its close
        if not peer.result["errors"]:
            peer.result["errors"].append({"code": "closed", "message": str(exc) or type(exc).__name__})
    return peer.result


def load_channels(paths: list[str | Path]) -> np.ndarray:
    """One file (mono or stereo) or two files (one channel each, customer then agent) → (channels, n)."""
    if len(paths) == 1:
        return decode_file(paths[0])
    rows = [decode_file(path)[0] for path in paths[:2]]
    length = max(len(row) for row in rows)
    return np.stack([np.pad(row, (0, length - len(row))) for row in rows])
