"""Asterisk AudioSocket: a TCP server (RAFIQ_AUDIOSOCKET_PORT, default 9092).

Each message is a 3-byte header — kind (1 byte), payload length (16-bit unsigned big-endian) —
then the payload. Asterisk sends the call's UUID first (0x01, 16 bytes binary), then audio:
0x10 signed linear 16-bit little-endian 8 kHz mono, 0x11-0x18 the same at 12, 16, 24, 32, 44.1,
48, 96 and 192 kHz; 0x03 a DTMF digit (1 ASCII byte); 0xff an error (optional code byte); 0x00
hangup ("socket closure is also sufficient", says the protocol — here a closure without 0x00 is
taken as a drop and waits RAFIQ_TELEPHONY_RESUME_S for the same UUID to come back).

AudioSocket is mono, so the role of a connection comes from the port it arrived on:
``RAFIQ_AUDIOSOCKET_ROLES`` names the role of port, port+1, … (``customer,agent`` pairs two
sockets with the same UUID — one per direction — into one call). The only message a server can
answer with is 0x00 hangup: a connection that breaks the protocol (no UUID first, a bad UUID) or
that cannot become a call is sent a hangup and closed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from functools import partial

from assistant.sessions import CallError

from .auth import UNBOUND, Refused, check_source
from .driver import CallMetadata, TelephonyCall

log = logging.getLogger(__name__)

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_ERROR = 0xFF
AUDIO_RATES = {0x10: 8000, 0x11: 12000, 0x12: 16000, 0x13: 24000, 0x14: 32000, 0x15: 44100, 0x16: 48000,
               0x17: 96000, 0x18: 192000}
ERROR_HANGUP = 0x01  # Asterisk's error code: the calling party hung up
HANGUP_MESSAGE = bytes([KIND_HANGUP, 0, 0])
ROLE_ORDER = ["customer", "agent"]


def message(kind: int, payload: bytes = b"") -> bytes:
    """One AudioSocket message (simulators and tests build theirs with it)."""
    return bytes([kind]) + len(payload).to_bytes(2, "big") + payload


class ProtocolViolation(Exception):
    pass


class AudioSocketConnection:
    def __init__(self, services, role: str, roles: list[str], reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter):
        self.svc = services
        self.role = role
        self.call_roles = sorted(set(roles), key=ROLE_ORDER.index)
        self.reader = reader
        self.writer = writer
        self.call: TelephonyCall | None = None
        self.call_id: str | None = None
        self.rate: int | None = None
        self.peer = writer.get_extra_info("peername")

    def _log_extra(self, **fields) -> dict:
        return {"call_id": self.call_id, "role": self.role, "peer": str(self.peer), **fields}

    async def _read_message(self, timeout: float | None = None) -> tuple[int, bytes]:
        header = await asyncio.wait_for(self.reader.readexactly(3), timeout)
        kind, length = header[0], int.from_bytes(header[1:3], "big")
        payload = await self.reader.readexactly(length) if length else b""
        return kind, payload

    async def run(self) -> None:
        end_reason: str | None = None
        auth = self.svc.ingress
        self.binding = UNBOUND
        if auth is not None and auth.audiosocket:  # RAFIQ_AUDIOSOCKET_ALLOW set; else any source (development)
            try:
                self.binding = check_source(auth.audiosocket, self.peer[0] if self.peer else "")
            except Refused as exc:
                log.warning("audiosocket: connection refused", extra=self._log_extra(detail=exc.detail))
                self.writer.close()
                return
        try:
            await self._open()
            end_reason = await self._receive()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # closed without a hangup message: a drop
        except (ProtocolViolation, CallError, asyncio.TimeoutError) as exc:
            detail = f"{exc.code}: {exc.message}" if isinstance(exc, CallError) else str(exc) or "timeout"
            log.warning("audiosocket: hanging up", extra=self._log_extra(detail=detail))
            await self._hangup()
            if self.call is not None:
                end_reason = "error:audiosocket"
        except Exception:
            log.exception("audiosocket connection failed", extra=self._log_extra())
        finally:
            if self.call is not None:
                if end_reason is None:
                    await self.call.drop()
                else:
                    await self.call.end(end_reason)
            self.writer.close()

    async def _hangup(self) -> None:
        try:
            self.writer.write(HANGUP_MESSAGE)
            await self.writer.drain()
        except ConnectionError:
            pass

    async def _open(self) -> None:
        kind, payload = await self._read_message(self.svc.settings.start_timeout_s)
        if kind != KIND_UUID:
            raise ProtocolViolation(f"the first message must be the UUID (0x01), not 0x{kind:02x}")
        if len(payload) != 16:
            raise ProtocolViolation(f"the UUID payload must be 16 bytes, not {len(payload)}")
        self.call_id = str(uuid.UUID(bytes=payload))  # canonical lower-case form
        tenant, campaign = self.binding.apply(None, None, "audiosocket")
        meta = CallMetadata(call_id=self.call_id, protocol="audiosocket", roles=self.call_roles,
                            tenant=tenant or "default", platform={"uuid": self.call_id, "campaign": campaign})
        self.call = await TelephonyCall.open(self.svc.calls, meta, feeds=[self.role])
        log.info("audiosocket connected", extra=self._log_extra())

    async def _receive(self) -> str:
        while True:
            kind, payload = await self._read_message()
            if kind in AUDIO_RATES:
                rate = AUDIO_RATES[kind]
                if rate != self.rate:  # a new rate starts a new stream (its resampler)
                    self.rate = rate
                    self.call.add_stream("audio", "pcm_s16le", rate, [self.role])
                self.call.push("audio", payload)
            elif kind == KIND_HANGUP:
                return "hangup"
            elif kind == KIND_DTMF:
                log.info("audiosocket dtmf", extra=self._log_extra(digit=payload[:1].decode("ascii", "replace")))
            elif kind == KIND_ERROR:
                code = payload[0] if payload else None
                log.warning("audiosocket: Asterisk reported an error", extra=self._log_extra(error_code=code))
                if code == ERROR_HANGUP:
                    return "hangup"
            elif kind == KIND_UUID:
                log.warning("audiosocket: repeated UUID ignored", extra=self._log_extra())
            else:
                log.warning("audiosocket: unknown message kind skipped", extra=self._log_extra(kind=kind))


class AudioSocketServer:
    """One listening port per configured role."""

    def __init__(self, services, host: str, port: int, roles: list[str]):
        self.svc = services
        self.host = host
        self.port = port
        self.roles = list(roles)
        self._servers: list[asyncio.AbstractServer] = []
        self._connections: set[asyncio.Task] = set()

    async def start(self) -> None:
        for offset, role in enumerate(self.roles):
            server = await asyncio.start_server(partial(self._accept, role), self.host, self.port + offset)
            self._servers.append(server)
            log.info("audiosocket listening", extra={"host": self.host, "port": self.port + offset, "role": role})

    async def _accept(self, role: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            await AudioSocketConnection(self.svc, role, self.roles, reader, writer).run()
        finally:
            self._connections.discard(task)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._connections):
            task.cancel()
        for server in self._servers:
            await server.wait_closed()
