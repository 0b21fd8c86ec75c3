"""Run a Rafiq server in a child process (benchmarks and tests use it to talk to the real thing)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ADMIN_USERNAME = "rafiq-admin"


class ServerProcess:
    """``with ServerProcess(data_dir) as base_url: …`` — starts ``rafiq serve``, waits for /healthz.

    The server gets a bootstrap administrator (``ADMIN_USERNAME``, a random password) unless
    ``RAFIQ_BOOTSTRAP_ADMIN`` is given; ``accounts()`` opens its account database directly, to
    make users, tenants and API keys for a benchmark or a test."""

    def __init__(self, data_dir: Path, ready_timeout: float = 180, **env: str):
        self.data_dir = Path(data_dir)
        self.ready_timeout = ready_timeout
        self.admin_password = secrets.token_urlsafe(12)
        self.env = {"RAFIQ_BOOTSTRAP_ADMIN": f"{ADMIN_USERNAME}:{self.admin_password}", **env}
        self.proc: subprocess.Popen | None = None
        self.base_url = ""

    def accounts(self):
        """The server's AccountStore (same database), for setting up users and keys."""
        from assistant.config import Settings
        from assistant.services import open_accounts

        overrides = {"RAFIQ_DATA_DIR": str(self.data_dir), **self.env}
        return open_accounts(Settings.from_env({**os.environ, **overrides}))

    def token(self, username: str, password: str) -> str:
        response = httpx.post(f"{self.base_url}/v1/auth/token", data={"username": username, "password": password},
                              timeout=30)
        response.raise_for_status()
        return response.json()["access_token"]

    def admin_token(self) -> str:
        return self.token(ADMIN_USERNAME, self.admin_password)

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        # AudioSocket off unless asked for: several test servers must not compete for its fixed port.
        env = {**os.environ, "RAFIQ_PORT": str(port), "RAFIQ_HOST": "127.0.0.1", "RAFIQ_DATA_DIR": str(self.data_dir),
               "PYTHONUNBUFFERED": "1", "RAFIQ_AUDIOSOCKET_PORT": "0", **self.env}
        log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "serve"], cwd=REPO, env=env,
                                     stdout=log_file, stderr=subprocess.STDOUT)
        self.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rafiq serve exited with {self.proc.returncode}:\n{self.log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return self.base_url
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"rafiq serve was not ready within {self.ready_timeout:g} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
