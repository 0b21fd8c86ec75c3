"""Asterisk AudioSocket over TCP: UUID, slin frames (8 and 16 kHz), DTMF, hangup, errors."""

import asyncio
import uuid


from assistant.simulate import AudioSocketPeer, Pacer
from assistant.telephony.audiosocket import KIND_DTMF, KIND_ERROR, KIND_UUID, message
from speech.audio import float_to_pcm16
from tests.conftest import (assert_one_continuous_call, clip_audio, recorded_events, transcript_of,
                            two_speakers, wait_for_call_end, wait_for_call_start, words_heard)


def peer(server, call_uuid, channels=1, kind=0x10) -> AudioSocketPeer:
    return AudioSocketPeer("127.0.0.1", server.audiosocket_port, call_uuid, channels, kind)


async def test_two_sockets_with_one_uuid_are_one_call(telephony_server):
    customer, customer_ref = clip_audio("es", 3)
    agent, agent_ref = clip_audio("en", 4)
    call_uuid = uuid.uuid4()
    asterisk = peer(telephony_server, str(call_uuid).upper(), channels=2)  # one socket per direction
    await asterisk.open()
    for _, writer in asterisk.streams:
        writer.write(message(KIND_DTMF, b"7"))
    # Asterisk starts both directions together and streams in real time; give the second socket
    # the moment it needs to join before the (sped-up) audio and hangup of the first.
    await asyncio.sleep(0.5)
    await asterisk.send(two_speakers(customer, agent), Pacer(speed=8))
    await asterisk.end()
    call_id = str(call_uuid)  # canonical lower-case form
    call = await wait_for_call_end(telephony_server.base_url, call_id, token=telephony_server.token)
    assert call["end_reason"] == "hangup" and call["roles"] == ["customer", "agent"]
    assert words_heard(customer_ref, transcript_of(call, "customer")) >= 0.5
    assert words_heard(agent_ref, transcript_of(call, "agent")) >= 0.5
    assert words_heard(agent_ref, transcript_of(call, "customer")) < 0.2
    assert_one_continuous_call(await recorded_events(telephony_server.ws_base, call_id, token=telephony_server.token))


async def test_same_uuid_after_a_drop_continues_at_a_higher_rate(telephony_server):
    first, first_ref = clip_audio("en", 4)
    second, second_ref = clip_audio("en", 3)
    call_id = str(uuid.uuid4())
    asterisk = peer(telephony_server, call_id)
    await asterisk.open()
    await asterisk.send(first, Pacer(speed=0))
    await asterisk.drop()  # TCP closed without a hangup message
    await asyncio.sleep(0.5)
    assert telephony_server.get_call(call_id).json()["status"] == "live"
    again = peer(telephony_server, call_id, kind=0x12)  # slin16
    await again.open()
    await again.send(second, Pacer(speed=0))
    await again.end()
    call = await wait_for_call_end(telephony_server.base_url, call_id, token=telephony_server.token)
    assert call["end_reason"] == "hangup"
    transcript = transcript_of(call, "customer")
    assert words_heard(first_ref, transcript) >= 0.5 and words_heard(second_ref, transcript) >= 0.5, transcript
    assert_one_continuous_call(await recorded_events(telephony_server.ws_base, call_id, token=telephony_server.token))


async def test_a_drop_with_no_reconnect_ends_after_the_grace(telephony_server):
    audio, reference = clip_audio("en", 4)
    call_id = str(uuid.uuid4())
    asterisk = peer(telephony_server, call_id)
    await asterisk.open()
    _, writer = asterisk.streams[0]
    writer.write(message(0x42, b"future"))  # unknown kind: skipped
    writer.write(message(KIND_ERROR, b"\x02"))  # Asterisk frame-forwarding error: logged, call goes on
    await asterisk.send(audio, Pacer(speed=0))
    await asterisk.drop()
    loop = asyncio.get_running_loop()
    dropped_at = loop.time()
    call = await wait_for_call_end(telephony_server.base_url, call_id, timeout=60, token=telephony_server.token)
    assert loop.time() - dropped_at >= telephony_server.resume_s - 0.5
    assert call["end_reason"] == "disconnected"
    assert words_heard(reference, transcript_of(call, "customer")) >= 0.5


async def hung_up_on(server, first: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.audiosocket_port)
    writer.write(first)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)  # everything until the server closes
    writer.close()
    return answer


async def test_protocol_violations_are_hung_up(telephony_server):
    assert await hung_up_on(telephony_server, message(0x10, float_to_pcm16(clip_audio("en", 4)[0][0, :160]))) \
        == b"\x00\x00\x00"  # audio before the UUID
    assert await hung_up_on(telephony_server, message(KIND_UUID, b"short")) == b"\x00\x00\x00"
    # A second socket for a direction already streaming is refused, the first goes on.
    call_id = str(uuid.uuid4())
    first = peer(telephony_server, call_id)
    await first.open()
    await wait_for_call_start(telephony_server.base_url, call_id, token=telephony_server.token)
    assert await hung_up_on(telephony_server, message(KIND_UUID, uuid.UUID(call_id).bytes)) == b"\x00\x00\x00"
    await first.end()
    call = await wait_for_call_end(telephony_server.base_url, call_id, token=telephony_server.token)
    assert call["end_reason"] == "hangup"
