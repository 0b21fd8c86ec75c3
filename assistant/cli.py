"""The ``rafiq`` command: serve the API, simulate a call from a file, prepare models."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import websockets

from .config import Settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .memory import tune_allocator

    tune_allocator()  # before the models start their threads
    settings = Settings.from_env(**{k: v for k, v in {"host": args.host, "port": args.port}.items() if v})
    from .drain import DrainingServer

    app = create_app(settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None,
                            ws_max_size=settings.max_frame_bytes * 4)
    DrainingServer(config, app, settings.drain_s).run()
    return 0


async def _follow_events(url: str, call_id: str, token: str, wait_s: float = 30) -> None:
    """Print the call's transcript and suggestions until it ends; the call may not exist yet
    when this starts (its stream is still connecting): asked again until ``wait_s``."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        async with websockets.connect(f"{url}/v1/calls/{call_id}/events", additional_headers=headers) as ws:
            async for message in ws:
                event = json.loads(message)
                kind = event.get("type")
                if kind == "transcript.final":
                    print(f"[{event['start']:7.2f}-{event['end']:7.2f}] {event['speaker']:<8} ({event['language']}) {event['text']}")
                elif kind == "suggestion":
                    best = event["sources"][0]
                    print(f"    -> suggestion from {best['title']!r} (score {best['score']:.2f})")
                elif kind == "call.ended":
                    return
                elif kind == "error":
                    if event.get("code") != "unknown_call" or asyncio.get_running_loop().time() > deadline:
                        print(f"cannot follow the call: {event.get('code')}: {event.get('message')}", file=sys.stderr)
                        return
                    break
            else:
                return  # the server closed the socket
        await asyncio.sleep(0.1)


# The server's variable holding each platform's secret: rafiq simulate signs with it by default.
SECRET_VARIABLES = {"twilio": "RAFIQ_TWILIO_AUTH_TOKEN", "audiohook": "RAFIQ_AUDIOHOOK_CLIENT_SECRET",
                    "freeswitch": "RAFIQ_FREESWITCH_TOKEN"}


def _first_credential(variable: str) -> str:
    """The first entry of a credential list variable, without its @tenant/campaign binding (or
    an AudioHook client secret's "apikey:" prefix)."""
    first = (os.environ.get(variable) or "").split(",")[0].strip() if variable else ""
    first = first.partition("@")[0]
    return first.rpartition(":")[2] if variable == "RAFIQ_AUDIOHOOK_CLIENT_SECRET" else first


async def _simulate_async(args: argparse.Namespace) -> int:
    from .simulate import load_channels, make_peer, play, stream_audio

    base = args.url.rstrip("/")
    ws_base = "ws" + base[4:] if base.startswith("http") else base
    roles = args.roles.split(",") if args.roles else None
    call_path = quote(args.call_id, safe="")
    audio = load_channels(args.file)
    if args.protocol == "native":
        target = f"{ws_base}/v1/calls/{call_path}/audio"
        sender = stream_audio(audio, target, roles=roles, speed=args.speed, language=args.language,
                              tenant=args.tenant, frame_ms=20, api_key=args.ingest_key, agent=args.agent)
    else:
        secret = args.secret if args.secret is not None else _first_credential(SECRET_VARIABLES.get(args.protocol, ""))
        peer = make_peer(args.protocol, base, args.call_id, audio.shape[0], tenant=args.tenant or "default",
                         language=args.language, audiosocket_port=args.audiosocket_port, api_key=args.api_key,
                         sample_rate=args.sample_rate, secret=secret, public_url=args.public_url)
        target = f"{args.protocol} peer of {base}"
        sender = play(peer, audio, speed=args.speed)
    if not args.quiet:
        print(f"call {args.call_id} ({args.protocol})")
    try:
        streamer = asyncio.ensure_future(sender)
        follow = not args.quiet and bool(args.token)
        if follow:
            await asyncio.sleep(0.3)
            follower = asyncio.ensure_future(_follow_events(ws_base, call_path, args.token))
        result = await streamer
        if follow and not result["errors"]:
            await asyncio.wait_for(follower, 60)
    except (OSError, websockets.InvalidHandshake) as exc:
        print(f"cannot stream to {target}: {exc}", file=sys.stderr)
        return 1
    for error in result["errors"]:
        print(f"error from server: {error['code']}: {error['message']}", file=sys.stderr)
    return 1 if result["errors"] else 0


def _simulate(args: argparse.Namespace) -> int:
    from .simulate import new_platform_call_id

    if not 1 <= len(args.file) <= 2:
        print("give one audio file (mono or stereo) or two (customer, then agent)", file=sys.stderr)
        return 2
    for path in args.file:
        if not Path(path).exists():
            print(f"no such file: {path}", file=sys.stderr)
            return 2
    if args.call_id is None:
        args.call_id = new_platform_call_id(args.protocol) if args.protocol != "native" else f"sim-{uuid.uuid4().hex[:10]}"
    return asyncio.run(_simulate_async(args))


def _prepare(args: argparse.Namespace) -> int:
    from speech.models import resolve_model_path

    settings = Settings.from_env()
    path = resolve_model_path(settings.asr_model, settings.model_cache)
    print(f"ASR model ready at {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rafiq", description="Rafiq: real-time agent assist for call centres")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API and the agent panel")
    serve.add_argument("--host", default=None, help="default: RAFIQ_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: RAFIQ_PORT or 8000")
    serve.set_defaults(func=_serve)

    simulate = sub.add_parser("simulate", help="stream an audio file (wav, flac, ogg, mp3) as a live call")
    simulate.add_argument("file", nargs="+", help="one file (a stereo file is customer left, agent right) "
                                                  "or two files: customer, then agent")
    simulate.add_argument("--protocol", default="native",
                          choices=["native", "twilio", "audiohook", "audiosocket", "freeswitch"],
                          help="send it as this peer would: native ingest, Twilio Media Streams, Genesys AudioHook, "
                               "Asterisk AudioSocket or FreeSWITCH mod_audio_fork")
    simulate.add_argument("--call-id", default=None, help="default: a new id (a Twilio call SID, or a UUID)")
    simulate.add_argument("--audiosocket-port", type=int, default=int(os.environ.get("RAFIQ_AUDIOSOCKET_PORT") or 9092))
    simulate.add_argument("--api-key", default=_first_credential("RAFIQ_AUDIOHOOK_API_KEY"),
                          help="AudioHook X-API-KEY (default: the first of RAFIQ_AUDIOHOOK_API_KEY)")
    simulate.add_argument("--secret", default=None,
                          help="sign the connection as the platform does: Twilio auth token, AudioHook client secret "
                               "(base64) or FreeSWITCH token (default: the first of RAFIQ_TWILIO_AUTH_TOKEN, "
                               "RAFIQ_AUDIOHOOK_CLIENT_SECRET or RAFIQ_FREESWITCH_TOKEN)")
    simulate.add_argument("--public-url", default=os.environ.get("RAFIQ_PUBLIC_URL", ""),
                          help="Twilio: the URL Twilio is given for Rafiq, which it signs (default RAFIQ_PUBLIC_URL; "
                               "empty: --url)")
    simulate.add_argument("--sample-rate", type=int, default=8000, choices=[8000, 16000],
                          help="FreeSWITCH L16 rate (the other protocols are 8 kHz)")
    simulate.add_argument("--speed", type=float, default=1.0, help="1.0 = real time, 2.0 = twice as fast, 0 = no pacing")
    simulate.add_argument("--url", default="http://127.0.0.1:8000")
    simulate.add_argument("--roles", default=None, help="comma-separated role per channel (default customer[,agent])")
    simulate.add_argument("--language", default=None, help="force a language (default: detect)")
    simulate.add_argument("--tenant", default=None, help="default: the API key's tenant")
    simulate.add_argument("--ingest-key", default=os.environ.get("RAFIQ_INGEST_KEY", ""),
                          help="native protocol: an ingest API key (rafiq apikeys create; default RAFIQ_INGEST_KEY)")
    simulate.add_argument("--agent", default=None, help="the agent's username: the call shows on their panel")
    simulate.add_argument("--token", default=os.environ.get("RAFIQ_TOKEN", ""),
                          help="a user's access token to print the transcript (default RAFIQ_TOKEN); "
                               "without one the call is sent but not followed")
    simulate.add_argument("--quiet", action="store_true", help="do not print the transcript")
    simulate.set_defaults(func=_simulate)

    prepare = sub.add_parser("prepare", help="assemble the bundled ASR model in the cache")
    prepare.set_defaults(func=_prepare)

    from .kb_cli import add_parser as add_kb_parser  # rafiq kb import|export
    from .users_cli import add_parsers as add_account_parsers  # rafiq users …, rafiq apikeys …

    add_kb_parser(sub)
    add_account_parsers(sub)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
