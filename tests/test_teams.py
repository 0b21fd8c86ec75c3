"""Supervisors with a team see their team's calls and the calls no agent has taken yet, not
another team's; a supervisor without a team sees the whole tenant. A call's team is its agent's
team when the call starts."""

from __future__ import annotations

import uuid

import httpx

from assistant.simulate import stream_audio

from tests.conftest import bearer, clip_head, new_call_id


async def _call(floor, tenant: str, agent: str | None) -> str:
    call_id = new_call_id("team")
    result = await stream_audio(clip_head("fr", 0, 2.0), f"{floor.ws_base}/v1/calls/{call_id}/audio", speed=0,
                                api_key=floor.ingest_key(tenant), agent=agent)
    assert result["errors"] == [], result
    return call_id


async def test_a_team_supervisor_sees_their_team_and_unassigned_calls(floor):
    tenant = floor.add_tenant()
    store = floor.server.accounts()
    lead_password = uuid.uuid4().hex
    try:
        store.add_user(f"lead-{tenant}", lead_password, ["supervisor"], tenant, team=f"team-{tenant}")
        store.add_user(f"outsider-{tenant}", uuid.uuid4().hex, ["agent"], tenant, team="elsewhere")
    finally:
        store.engine.dispose()
    lead = floor.server.token(f"lead-{tenant}", lead_password)

    own = await _call(floor, tenant, floor.username("agent", tenant))  # the agent is in team-<tenant>
    other_team = await _call(floor, tenant, f"outsider-{tenant}")
    unassigned = await _call(floor, tenant, None)

    async with httpx.AsyncClient(base_url=floor.base_url, timeout=30) as client:
        calls = {c["call_id"]: c for c in (await client.get("/v1/calls", headers=bearer(lead))).json()["calls"]}
        assert own in calls and unassigned in calls and other_team not in calls
        assert calls[own]["team"] == f"team-{tenant}" and calls[unassigned]["team"] is None
        assert (await client.get(f"/v1/calls/{own}", headers=bearer(lead))).status_code == 200
        assert (await client.get(f"/v1/calls/{unassigned}", headers=bearer(lead))).status_code == 200
        hidden = await client.get(f"/v1/calls/{other_team}", headers=bearer(lead))
        assert hidden.status_code == 404 and hidden.json()["detail"]["code"] == "unknown_call"

        everyone = (await client.get("/v1/calls", headers=floor.headers("supervisor", tenant))).json()["calls"]
        assert {own, other_team, unassigned} <= {c["call_id"] for c in everyone}
        record = (await client.get(f"/v1/calls/{other_team}", headers=floor.headers("supervisor", tenant))).json()
        assert record["team"] == "elsewhere" and record["agent"] == f"outsider-{tenant}"
