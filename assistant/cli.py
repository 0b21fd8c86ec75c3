"""The ``rafiq`` command: serve the API, simulate a call from a file, prepare models."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from urllib.parse import quote

import websockets

from .config import Settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app

    settings = Settings.from_env(**{k: v for k, v in {"host": args.host, "port": args.port}.items() if v})
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None,
                ws_max_size=settings.max_frame_bytes * 4)
    return 0


async def _follow_events(url: str, call_id: str) -> None:
    async with websockets.connect(f"{url}/v1/calls/{call_id}/events") as ws:
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


async def _simulate_async(args: argparse.Namespace) -> int:
    from .simulate import stream_file

    base = args.url.rstrip("/")
    ws_base = "ws" + base[4:] if base.startswith("http") else base
    roles = args.roles.split(",") if args.roles else None
    call_path = quote(args.call_id, safe="")
    audio_url = f"{ws_base}/v1/calls/{call_path}/audio"
    try:
        streamer = asyncio.ensure_future(stream_file(args.file, audio_url, roles=roles, speed=args.speed,
                                                     language=args.language, tenant=args.tenant))
        if not args.quiet:
            await asyncio.sleep(0.3)
            follower = asyncio.ensure_future(_follow_events(ws_base, call_path))
        result = await streamer
        if not args.quiet and not result["errors"]:
            await asyncio.wait_for(follower, 60)
    except (OSError, websockets.InvalidHandshake) as exc:
        print(f"cannot stream to {audio_url}: {exc}", file=sys.stderr)
        return 1
    for error in result["errors"]:
        print(f"error from server: {error['code']}: {error['message']}", file=sys.stderr)
    return 1 if result["errors"] else 0


def _simulate(args: argparse.Namespace) -> int:
    if not Path(args.file).exists():
        print(f"no such file: {args.file}", file=sys.stderr)
        return 2
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
    simulate.add_argument("file")
    simulate.add_argument("--call-id", required=True)
    simulate.add_argument("--speed", type=float, default=1.0, help="1.0 = real time, 2.0 = twice as fast, 0 = no pacing")
    simulate.add_argument("--url", default="http://127.0.0.1:8000")
    simulate.add_argument("--roles", default=None, help="comma-separated role per channel (default customer[,agent])")
    simulate.add_argument("--language", default=None, help="force a language (default: detect)")
    simulate.add_argument("--tenant", default="default")
    simulate.add_argument("--quiet", action="store_true", help="do not print the transcript")
    simulate.set_defaults(func=_simulate)

    prepare = sub.add_parser("prepare", help="assemble the bundled ASR model in the cache")
    prepare.set_defaults(func=_prepare)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
