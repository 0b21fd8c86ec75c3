"""The cluster's shared state in Redis: nodes and their heartbeats, the live-call registry (which
node owns which call), call numbering, admission per tenant, and knowledge-base notifications."""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis

# Admit a call into its tenant's set unless the set is full: one atomic step, so two nodes
# admitting at once never exceed the limit (0 = no limit).
_ADMIT = """
local added = redis.call('SADD', KEYS[1], ARGV[1])
local limit = tonumber(ARGV[2])
if limit > 0 and redis.call('SCARD', KEYS[1]) > limit then
  if added == 1 then redis.call('SREM', KEYS[1], ARGV[1]) end
  return 0
end
return 1
"""

# The call's next event number, cluster-wide; a call whose counter is gone (Redis restarted, an
# ended call's late feedback) goes on from what the caller knows from the record.
_NEXT_SEQ = """
local floor = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < floor then redis.call('SET', KEYS[1], floor) end
local seq = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return seq
"""


class ClusterState:
    """One node's handle on the shared state. Keys live under ``prefix``:

    - ``node:<id>``: the node's heartbeat (its info, expiring after ``node_ttl_s``);
    - ``calls``: hash call id → JSON (owner node, tenant, agent, team, started_at, resumable, attached, lost_at);
    - ``tenant:<t>:calls``: the tenant's live call ids (admission);
    - ``seq:<call id>``: the call's last event number;
    - ``claim:<call id>``: which node is taking over a call whose owner died;
    - channel ``kb``: knowledge-base changes (JSON list of article ids).
    """

    def __init__(self, client: aioredis.Redis, node_id: str, *, prefix: str = "rafiq", node_ttl_s: float = 3.0,
                 seq_ttl_s: int = 7 * 24 * 3600):
        self.client = client
        self.node_id = node_id
        self.prefix = prefix
        self.node_ttl_s = node_ttl_s
        self.seq_ttl_s = seq_ttl_s
        self._admit = client.register_script(_ADMIT)
        self._next_seq = client.register_script(_NEXT_SEQ)

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # -- nodes ---------------------------------------------------------------------------------

    async def heartbeat(self, info: dict[str, Any]) -> None:
        await self.client.set(self._k("node", self.node_id), json.dumps({**info, "at": time.time()}),
                              px=int(self.node_ttl_s * 1000))

    async def leave(self) -> None:
        await self.client.delete(self._k("node", self.node_id))

    async def alive(self, node_id: str) -> bool:
        return bool(await self.client.exists(self._k("node", node_id)))

    async def nodes(self) -> dict[str, dict[str, Any]]:
        found = {}
        async for key in self.client.scan_iter(match=self._k("node", "*"), count=100):
            value = await self.client.get(key)
            if value is not None:
                found[key.rsplit(":", 1)[1]] = json.loads(value)
        return found

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    # -- live calls ----------------------------------------------------------------------------

    async def admit(self, tenant: str, call_id: str, tenant_limit: int) -> bool:
        return bool(await self._admit(keys=[self._k("tenant", tenant, "calls")], args=[call_id, tenant_limit]))

    async def register(self, call_id: str, info: dict[str, Any]) -> None:
        await self.client.hset(self._k("calls"), call_id, json.dumps({**info, "node": self.node_id}))

    async def ensure(self, call_id: str, tenant: str, info: dict[str, Any]) -> None:
        """Register the call again if Redis lost it (a restart): peers must not think it orphaned."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hsetnx(self._k("calls"), call_id, json.dumps({**info, "node": self.node_id}))
        pipe.sadd(self._k("tenant", tenant, "calls"), call_id)
        await pipe.execute()

    async def update(self, call_id: str, **changes: Any) -> None:
        entry = await self.call(call_id)
        if entry is not None:
            await self.client.hset(self._k("calls"), call_id, json.dumps({**entry, **changes}))

    async def unregister(self, call_id: str, tenant: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(self._k("calls"), call_id)
        pipe.srem(self._k("tenant", tenant, "calls"), call_id)
        pipe.delete(self._k("claim", call_id))
        await pipe.execute()

    async def call(self, call_id: str) -> dict[str, Any] | None:
        value = await self.client.hget(self._k("calls"), call_id)
        return json.loads(value) if value is not None else None

    async def calls(self) -> dict[str, dict[str, Any]]:
        return {call_id: json.loads(value) for call_id, value in (await self.client.hgetall(self._k("calls"))).items()}

    async def tenant_calls(self, tenant: str) -> int:
        return int(await self.client.scard(self._k("tenant", tenant, "calls")))

    async def claim(self, call_id: str, ttl_s: float = 30.0) -> bool:
        """This node takes charge of a call whose owner died (one node only, for ``ttl_s``)."""
        return bool(await self.client.set(self._k("claim", call_id), self.node_id, nx=True, px=int(ttl_s * 1000)))

    async def release_claim(self, call_id: str) -> None:
        await self.client.delete(self._k("claim", call_id))

    async def next_seq(self, call_id: str, floor: int) -> int:
        return int(await self._next_seq(keys=[self._k("seq", call_id)], args=[floor, self.seq_ttl_s]))

    # -- knowledge base ------------------------------------------------------------------------

    @property
    def kb_channel(self) -> str:
        return self._k("kb")

    async def announce_kb(self, article_ids: list[str]) -> None:
        await self.client.publish(self.kb_channel, json.dumps({"node": self.node_id, "articles": article_ids}))
