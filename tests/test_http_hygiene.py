"""HTTP hygiene middlewares against a real uvicorn server with real httpx / websockets clients."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from starlette.middleware.cors import CORSMiddleware
from websockets.sync.client import connect as ws_connect

from security.http import (
    CONTENT_SECURITY_POLICY,
    BodySizeLimitMiddleware,
    SecurityHeadersMiddleware,
    cors_middleware_kwargs,
)

LIMIT = 1024
BIG_LIMIT = 8192
EXPECTED = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "permissions-policy": "microphone=(), camera=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
}


class Item(BaseModel):
    text: str


def build_app(*, hsts: bool) -> tuple[FastAPI, dict[str, int]]:
    calls = {"echo": 0}
    app = FastAPI(docs_url=None, redoc_url=None)

    @app.get("/json")
    async def get_json() -> dict:
        return {"ok": True}

    @app.get("/framed")
    async def framed() -> JSONResponse:
        return JSONResponse({"ok": True}, headers={"X-Frame-Options": "SAMEORIGIN"})

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        calls["echo"] += 1
        return {"size": len(await request.body())}

    @app.post("/v1/kb/imports")
    async def kb_import(request: Request) -> dict:
        return {"size": len(await request.body())}

    @app.post("/v1/kb/importsX")
    async def not_an_import(request: Request) -> dict:
        return {"size": len(await request.body())}

    @app.post("/model")
    async def model(item: Item) -> dict:
        return {"size": len(item.text)}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks():
            for i in range(5):
                yield f"chunk-{i}\n".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.websocket("/ws")
    async def ws_echo(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            text = await websocket.receive_text()
            if text == "bye":
                await websocket.close()
                return
            await websocket.send_text(text.upper())

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=LIMIT, overrides={"/v1/kb/imports": BIG_LIMIT})
    app.add_middleware(SecurityHeadersMiddleware, hsts=hsts)
    return app, calls


class _Server:
    """A real uvicorn server on 127.0.0.1 in a background thread."""

    def __init__(self, app: FastAPI, http: str = "auto") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", http=http,
                                proxy_headers=True, forwarded_allow_ips="127.0.0.1")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, dict[str, int]]]:
    app, calls = build_app(hsts=False)
    with _Server(app) as base:
        yield base, calls


@pytest.fixture(scope="module")
def base(served) -> str:
    return served[0]


@pytest.fixture
def client(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=10) as c:
        yield c


def chunked(total: int, piece: int = 100) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        n = min(piece, total - sent)
        sent += n
        yield b"x" * n


def assert_too_large(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert detail["code"] == "body_too_large"
    assert str(limit) in detail["message"]


# ------------------------------------------------------------------------------ security headers


@pytest.mark.parametrize("path", ["/json", "/stream", "/openapi.json", "/does-not-exist"])
def test_security_headers_on_http_responses(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    for name, value in EXPECTED.items():
        assert r.headers.get(name) == value, (path, name)
    assert "strict-transport-security" not in r.headers
    assert len(r.headers.get_list("content-security-policy")) == 1


def test_streaming_response_is_intact(client: httpx.Client) -> None:
    with client.stream("GET", "/stream") as r:
        assert r.status_code == 200
        assert r.headers["x-content-type-options"] == "nosniff"
        body = b"".join(r.iter_raw())
    assert body == b"".join(f"chunk-{i}\n".encode() for i in range(5))


def test_route_header_is_not_overridden(client: httpx.Client) -> None:
    r = client.get("/framed")
    assert r.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_websocket_passes_through_untouched(base: str) -> None:
    with ws_connect("ws" + base[4:] + "/ws", open_timeout=5) as ws:
        assert "content-security-policy" not in ws.response.headers
        assert "x-frame-options" not in ws.response.headers
        for text in ("hello", "x" * (4 * LIMIT)):  # frames are not subject to the body limit
            ws.send(text)
            assert ws.recv(timeout=5) == text.upper()
        ws.send("bye")


def test_hsts_only_when_asked_or_https(client: httpx.Client) -> None:
    assert "strict-transport-security" not in client.get("/json").headers
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1, so the request's scheme becomes https.
    r = client.get("/json", headers={"X-Forwarded-Proto": "https"})
    assert r.headers["strict-transport-security"] == "max-age=31536000"

    app, _ = build_app(hsts=True)
    with _Server(app) as hsts_base:
        r = httpx.get(hsts_base + "/json", timeout=10)
        assert r.headers["strict-transport-security"] == "max-age=31536000"
        assert r.headers["x-content-type-options"] == "nosniff"
        with ws_connect("ws" + hsts_base[4:] + "/ws", open_timeout=5) as ws:
            assert "strict-transport-security" not in ws.response.headers
            ws.send("ok")
            assert ws.recv(timeout=5) == "OK"


# ------------------------------------------------------------------------------ body size limit


def test_content_length_over_limit_is_refused_before_the_app(served, client: httpx.Client) -> None:
    _, calls = served
    before = calls["echo"]
    r = client.post("/echo", content=b"x" * (LIMIT + 1))
    assert_too_large(r, LIMIT)
    assert r.headers["x-content-type-options"] == "nosniff"  # still gets the security headers
    assert calls["echo"] == before


def test_body_at_exactly_the_limit_passes(client: httpx.Client) -> None:
    r = client.post("/echo", content=b"x" * LIMIT)
    assert r.status_code == 200 and r.json() == {"size": LIMIT}
    r = client.post("/echo", content=chunked(LIMIT))
    assert r.status_code == 200 and r.json() == {"size": LIMIT}


def test_chunked_body_over_limit_is_refused(client: httpx.Client) -> None:
    r = client.post("/echo", content=chunked(LIMIT + 1))
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in r.request.headers
    assert_too_large(r, LIMIT)


def test_chunked_body_over_limit_on_a_pydantic_route(client: httpx.Client) -> None:
    # FastAPI turns most errors raised while reading a body into 400; the limit must still win.
    payload = json.dumps({"text": "y" * (2 * LIMIT)}).encode()
    r = client.post("/model", content=iter([payload[:500], payload[500:]]),
                    headers={"content-type": "application/json"})
    assert_too_large(r, LIMIT)
    small = client.post("/model", json={"text": "hi"})
    assert small.status_code == 200 and small.json() == {"size": 2}


def test_override_path_accepts_a_larger_body(client: httpx.Client) -> None:
    r = client.post("/v1/kb/imports", content=b"x" * BIG_LIMIT)
    assert r.status_code == 200 and r.json() == {"size": BIG_LIMIT}
    r = client.post("/v1/kb/imports", content=chunked(BIG_LIMIT, 1000))
    assert r.status_code == 200 and r.json() == {"size": BIG_LIMIT}
    assert_too_large(client.post("/v1/kb/imports", content=b"x" * (BIG_LIMIT + 1)), BIG_LIMIT)
    assert_too_large(client.post("/v1/kb/imports", content=chunked(BIG_LIMIT + 1, 1000)), BIG_LIMIT)
    # The prefix matches whole path segments only.
    assert_too_large(client.post("/v1/kb/importsX", content=b"x" * (LIMIT + 1)), LIMIT)


def test_connection_still_usable_after_a_small_request(client: httpx.Client) -> None:
    for _ in range(3):
        assert client.post("/echo", content=b"abc").json() == {"size": 3}
        assert client.get("/json").json() == {"ok": True}


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_413_then_next_request_works_on_both_http_implementations(http: str) -> None:
    app, _ = build_app(hsts=False)
    with _Server(app, http=http) as other, httpx.Client(base_url=other, timeout=10) as c:
        for _ in range(2):
            assert_too_large(c.post("/echo", content=b"x" * (4 * LIMIT)), LIMIT)
            assert_too_large(c.post("/echo", content=chunked(4 * LIMIT)), LIMIT)
            assert c.post("/echo", content=b"x" * LIMIT).json() == {"size": LIMIT}


def test_limit_for_prefers_the_longest_prefix() -> None:
    mw = BodySizeLimitMiddleware(lambda *a: None, max_bytes=10, overrides={"/v1/kb": 20, "/v1/kb/imports/": 30})
    assert mw.limit_for("/v1/kb/imports") == 30
    assert mw.limit_for("/v1/kb/imports/abc") == 30
    assert mw.limit_for("/v1/kb/articles") == 20
    assert mw.limit_for("/v1/kbx") == 10
    assert mw.limit_for("/") == 10
    with pytest.raises(ValueError):
        BodySizeLimitMiddleware(lambda *a: None, max_bytes=-1)


# ------------------------------------------------------------------------------ CORS


def test_cors_closed_by_default(client: httpx.Client) -> None:
    r = client.get("/json", headers={"Origin": "https://elsewhere.example"})
    assert not any(h.startswith("access-control-") for h in r.headers)
    assert cors_middleware_kwargs(()) is None
    assert cors_middleware_kwargs(("", "  ")) is None


def test_cors_kwargs_when_origins_listed() -> None:
    kwargs = cors_middleware_kwargs(("https://crm.example.com/", " https://other.example "))
    assert kwargs is not None
    assert kwargs["allow_origins"] == ["https://crm.example.com", "https://other.example"]
    assert kwargs["allow_credentials"] is False
    app = FastAPI()

    @app.get("/json")
    async def get_json() -> dict:
        return {"ok": True}

    app.add_middleware(CORSMiddleware, **kwargs)
    with _Server(app) as cors_base:
        ok = httpx.get(cors_base + "/json", headers={"Origin": "https://crm.example.com"}, timeout=10)
        assert ok.headers["access-control-allow-origin"] == "https://crm.example.com"
        other = httpx.get(cors_base + "/json", headers={"Origin": "https://evil.example"}, timeout=10)
        assert "access-control-allow-origin" not in other.headers
