"""Self-test of tests/netguard: the outbound-connection guard behind "nothing leaves the premises".

Safety: every child below first checks that the guard is active and exits before attempting anything
non-loopback otherwise; the guard raises before any packet is sent, so no traffic leaves this
machine. The only non-loopback targets used are 192.0.2.1 (TEST-NET-1, never routed) and the name
example.com, and only with the guard on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

NETGUARD = Path(__file__).resolve().parent / "netguard"

PRELUDE = textwrap.dedent(
    """
    import asyncio, json, os, socket, subprocess, sys, threading
    import sitecustomize

    def must_block(what, fn):
        try:
            fn()
        except PermissionError as exc:
            assert "netguard" in str(exc), exc
            results[what] = "blocked"
        except BaseException as exc:
            results[what] = "unexpected " + repr(exc)
        else:
            results[what] = "NOT BLOCKED"

    def loopback_roundtrip(host, family=socket.AF_INET):
        srv = socket.socket(family, socket.SOCK_STREAM)
        srv.bind((host, 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        c = socket.create_connection((host, port), timeout=5)
        conn, _ = srv.accept()
        c.sendall(b"ping")
        data = conn.recv(4)
        for s in (c, conn, srv):
            s.close()
        return data

    results = {"pid": os.getpid(), "active": sitecustomize.ACTIVE}
    """
)

GUARDED = PRELUDE + textwrap.dedent(
    """
    # Never try anything outbound unless the guard (hook and method wrappers) is in place.
    if not sitecustomize.ACTIVE or socket.socket.connect.__code__.co_filename != sitecustomize.__file__:
        print(json.dumps(results)); sys.exit(3)

    results["loopback"] = loopback_roundtrip("127.0.0.1").decode()
    results["localhost"] = loopback_roundtrip("localhost").decode()
    results["gai_localhost"] = bool(socket.getaddrinfo("localhost", 80))
    results["gai_literal"] = bool(socket.getaddrinfo("192.0.2.1", 9))  # no lookup: allowed
    try:
        if socket.has_ipv6:
            results["ipv6_loopback"] = loopback_roundtrip("::1", socket.AF_INET6).decode()
    except OSError as exc:  # no IPv6 in this container
        results["ipv6_loopback"] = "unavailable"
    u = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    results["unix"] = u.connect_ex("/nonexistent/netguard.sock") != 0  # fails normally, not blocked
    u.close()

    def tcp_connect():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.2)
        try:
            s.connect(("192.0.2.1", 9))
        finally:
            s.close()

    def tcp_connect_ex():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.2)
        try:
            s.connect_ex(("192.0.2.1", 9))
        finally:
            s.close()

    def udp_sendto():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b"x", ("192.0.2.1", 9))
        finally:
            s.close()

    def connect_by_name():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.2)
        try:
            s.connect(("example.com", 80))
        finally:
            s.close()

    async def via_asyncio():
        await asyncio.wait_for(asyncio.open_connection("192.0.2.1", 9), 0.5)

    must_block("connect", tcp_connect)
    must_block("connect_ex", tcp_connect_ex)
    must_block("sendto", udp_sendto)
    must_block("connect_name", connect_by_name)
    must_block("getaddrinfo", lambda: socket.getaddrinfo("example.com", 443))
    must_block("create_connection", lambda: socket.create_connection(("example.com", 80), timeout=0.2))
    must_block("asyncio", lambda: asyncio.run(via_asyncio()))
    t = threading.Thread(target=must_block, args=("thread", tcp_connect))
    t.start(); t.join()
    child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    results["child"] = child.stdout.strip() or child.stderr
    print(json.dumps(results))
    """
)

CHILD = textwrap.dedent(
    """
    import json, os, socket, sys, sitecustomize
    if not sitecustomize.ACTIVE:
        print("inactive"); sys.exit(3)
    s = socket.socket(); s.settimeout(0.2)
    try:
        s.connect(("192.0.2.1", 9)); print("NOT BLOCKED")
    except PermissionError:
        print(json.dumps({"blocked": os.getpid()}))
    """
)


def run_child(code: str, env_extra: dict[str, str], *, pythonpath: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RAFIQ_NETGUARD_LOG", "PYTHONPATH")}
    env["PYTHONPATH"] = pythonpath or str(NETGUARD)
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_guard_blocks_and_logs_outbound_but_not_loopback(tmp_path: Path) -> None:
    log = tmp_path / "net.jsonl"
    proc = run_child(f"CHILD = {CHILD!r}\n" + GUARDED, {"RAFIQ_NETGUARD_LOG": str(log)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["active"] is True
    assert r["loopback"] == "ping" and r["localhost"] == "ping"
    assert r["ipv6_loopback"] in ("ping", "unavailable")
    assert r["gai_localhost"] and r["gai_literal"] and r["unix"]
    for what in ("connect", "connect_ex", "sendto", "connect_name", "getaddrinfo",
                 "create_connection", "asyncio", "thread"):
        assert r[what] == "blocked", (what, r[what])
    grandchild = json.loads(r["child"])

    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert all(set(rec) == {"event", "address", "pid", "stack"} for rec in records)
    assert all(isinstance(rec["stack"], list) and len(rec["stack"]) <= 8 for rec in records)
    events = {(rec["event"], json.dumps(rec["address"])) for rec in records}
    assert ("socket.connect", json.dumps(["192.0.2.1", 9])) in events
    assert ("socket.sendto", json.dumps(["192.0.2.1", 9])) in events
    assert ("socket.connect", json.dumps(["example.com", 80])) in events
    assert ("socket.getaddrinfo", json.dumps(["example.com", 443])) in events
    assert ("socket.getaddrinfo", json.dumps(["example.com", 80])) in events
    # The grandchild process inherited the guard and logged under its own pid.
    assert {rec["pid"] for rec in records} == {r["pid"], grandchild["blocked"]}
    # No loopback / localhost / literal-resolution traffic was recorded.
    text = log.read_text()
    assert "127.0.0.1" not in text and "localhost" not in text and "::1" not in text


def test_guard_is_inert_without_the_variable(tmp_path: Path) -> None:
    log = tmp_path / "net.jsonl"
    code = PRELUDE + textwrap.dedent(
        """
        results["loopback"] = loopback_roundtrip("127.0.0.1").decode()
        results["hooked"] = "ipaddress" in dir(sitecustomize)
        print(json.dumps(results))
        """
    )
    # Loopback only: without the guard nothing non-loopback may be attempted.
    proc = run_child(code, {})
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r == {"pid": r["pid"], "active": False, "loopback": "ping", "hooked": False}
    assert not log.exists()
    assert not list(Path(tmp_path).iterdir())


def test_shadowed_sitecustomize_still_runs(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import os\nos.environ['OTHER_SITECUSTOMIZE_RAN'] = '1'\n")
    code = "import os, sitecustomize; print(os.environ.get('OTHER_SITECUSTOMIZE_RAN'), sitecustomize.__file__)"
    for extra in ({}, {"RAFIQ_NETGUARD_LOG": str(tmp_path / "net.jsonl")}):
        proc = run_child(code, extra, pythonpath=os.pathsep.join([str(NETGUARD), str(other)]))
        assert proc.returncode == 0, proc.stderr
        ran, path = proc.stdout.split()
        assert ran == "1" and Path(path).parent == NETGUARD
