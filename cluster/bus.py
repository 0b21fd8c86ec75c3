"""The event bus on Redis Streams: one stream per channel (a call's events, an agent's call
notices), written by whichever node emits, read by every node with a subscriber."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import redis.asyncio as aioredis

log = logging.getLogger(__name__)


class RedisEventBus:
    """Same interface as ``assistant.events.EventBus`` (subscribe / unsubscribe / publish), across
    processes. A subscriber gets a bounded queue fed by its own ``XREAD``.

    A call's stream is read from its beginning: a follower that subscribes and then reads the
    call's recorded history (PostgreSQL) misses nothing in between, and drops what it already has
    by the events' ``seq``. Channels starting with one of ``tail_prefixes`` (an agent's notices,
    which carry no ``seq``) are read from their end, as the in-process bus does.

    ``publish`` is synchronous as in the in-process bus: events go to one writer task, in order,
    pipelined to Redis. A stream holds at most about ``maxlen`` events and expires ``ended_ttl_s``
    after its call's ``call.ended`` (PostgreSQL keeps the record).
    """

    def __init__(self, client: aioredis.Redis, overflow: Any, *, prefix: str = "rafiq", queue_size: int = 1000,
                 maxlen: int = 5000, ended_ttl_s: int = 3600, tail_prefixes: tuple[str, ...] = ("agent:",),
                 block_ms: int = 1000):
        self._client = client
        self._overflow = overflow
        self._prefix = prefix
        self._queue_size = queue_size
        self._maxlen = maxlen
        self._ended_ttl_s = ended_ttl_s
        self._tail_prefixes = tail_prefixes
        self._block_ms = block_ms
        self._outbox: asyncio.Queue | None = None
        self._writer: asyncio.Task | None = None
        self._readers: dict[int, asyncio.Task] = {}
        self.publish_errors = 0

    def key(self, channel: str) -> str:
        return f"{self._prefix}:events:{channel}"

    # -- writing -------------------------------------------------------------------------------

    def publish(self, channel: str, event: dict[str, Any]) -> None:
        if self._outbox is None:
            self._outbox = asyncio.Queue()
            self._writer = asyncio.get_running_loop().create_task(self._write())
        self._outbox.put_nowait((channel, event))

    async def _write(self) -> None:
        assert self._outbox is not None
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            pipe = self._client.pipeline(transaction=False)
            for channel, event in batch:
                key = self.key(channel)
                pipe.xadd(key, {"e": json.dumps(event, ensure_ascii=False)}, maxlen=self._maxlen, approximate=True)
                if event.get("type") == "call.ended":
                    pipe.expire(key, self._ended_ttl_s)
            try:
                await pipe.execute()
            except Exception as exc:  # Redis away: live followers miss these; the record has them
                self.publish_errors += len(batch)
                log.error("events not published to redis", extra={"events": len(batch), "error": str(exc)})
            finally:
                for _ in batch:
                    self._outbox.task_done()

    async def flush(self) -> None:
        """Wait until everything published so far is in Redis."""
        if self._outbox is not None:
            await self._outbox.join()

    # -- reading -------------------------------------------------------------------------------

    def subscribe(self, channel: str) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(self._queue_size)
        self._readers[id(queue)] = asyncio.get_running_loop().create_task(self._read(channel, queue))
        return queue

    def unsubscribe(self, channel: str, queue: asyncio.Queue) -> None:
        task = self._readers.pop(id(queue), None)
        if task is not None:
            task.cancel()

    async def _read(self, channel: str, queue: asyncio.Queue) -> None:
        key = self.key(channel)
        try:
            last = "0-0"
            if channel.startswith(self._tail_prefixes):
                newest = await self._client.xrevrange(key, count=1)
                last = newest[0][0] if newest else "0-0"
            while True:
                answer = await self._client.xread({key: last}, block=self._block_ms, count=500)
                for _stream, entries in answer or ():
                    for entry_id, fields in entries:
                        last = entry_id
                        event = json.loads(fields[b"e"] if b"e" in fields else fields["e"])
                        try:
                            queue.put_nowait(event)
                        except asyncio.QueueFull:
                            # As in-process: the reader finds the marker, closes, the client reconnects.
                            queue.get_nowait()
                            queue.put_nowait(self._overflow)
                            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("event stream read failed", extra={"channel": channel, "error": str(exc)})
            try:
                queue.put_nowait(self._overflow)  # the follower reconnects and is replayed
            except asyncio.QueueFull:
                pass

    async def close(self) -> None:
        await self.flush()
        for task in [*self._readers.values(), *([self._writer] if self._writer else [])]:
            task.cancel()
        self._readers.clear()
