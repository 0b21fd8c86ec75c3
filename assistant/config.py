"""Settings, read from RAFIQ_* environment variables (see the README's Configuration)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path


def _default_model_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rafiq" / "models"


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite in data_dir
    qdrant_url: str = ""  # empty: embedded Qdrant in data_dir/qdrant
    asr_model: str = "base"
    asr_device: str = "auto"
    asr_compute_type: str = "auto"
    asr_beam_size: int = 5
    asr_threads: int = 0  # 0: all cores
    # Power drawn by the ASR device while it decodes, for each call's energy estimate (README
    # "Per-call compute and energy"): asr_watts if set, else the default of the device in use.
    asr_watts: float = 0.0
    asr_watts_cpu: float = 65.0  # a server CPU socket under load (a typical 65 W TDP part)
    asr_watts_cuda: float = 300.0  # a data-centre GPU busy with small batches (well under its peak TDP)
    # Encoder input of partials / finals: the utterance plus this padding (seconds) instead of
    # Whisper's 30 s; 0 = the full 30 s (README "Speech engine", bench/latency.py).
    asr_partial_pad_s: float = 1.0
    asr_final_pad_s: float = 0.0
    model_cache: Path = field(default_factory=_default_model_cache)
    languages: tuple[str, ...] = ("fr", "ar", "es", "en", "pt")
    vad_min_silence_ms: int = 500
    partial_interval_s: float = 1.0
    suggestion_min_score: float = 0.35
    suggestions_per_segment: int = 3
    suggestion_min_words: int = 3
    # Suggestions searched on the partials' stable words, shown before the customer finishes
    # (README "Speculative suggestions"); this sure at least, or they wait for the final.
    speculative_suggestions: bool = True
    suggestion_provisional_min_score: float = 0.5
    seed_kb: bool = True
    # Optional reply drafting by a local LLM (README "LLM drafting"): off while llm_url is empty.
    llm_url: str = ""  # an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1
    llm_model: str = "default"
    llm_api_key: str = ""
    llm_timeout_s: float = 3.0  # a draft later than this is dropped; the article's text stays
    kb_import_max_bytes: int = 10 << 20  # largest knowledge-base import upload
    gap_threshold: float = 0.5  # cosine to a knowledge gap's centroid for a question to join it
    max_calls: int = -1  # live calls per process; -1 = one per CPU core on CPU, none on GPU; 0 = no limit
    max_frame_bytes: int = 1 << 20
    start_timeout_s: float = 10.0
    # Telephony ingress (assistant/telephony; README "Telephony ingress")
    # Credentials: comma-separated entries "credential[@tenant[/campaign]]"; a bound credential's
    # calls land in that tenant (campaign). Empty = that ingress is open (development only).
    public_url: str = ""  # how platforms reach Rafiq, e.g. wss://rafiq.example.com (Twilio signs it)
    twilio_auth_token: tuple[str, ...] = ()  # Twilio account auth token(s): X-Twilio-Signature checked
    audiohook_api_key: tuple[str, ...] = ()  # Genesys AudioHook X-API-KEY(s)
    audiohook_client_secret: tuple[str, ...] = ()  # base64 client secret, or "apikey:secret" per key
    freeswitch_token: tuple[str, ...] = ()  # FreeSWITCH ?token= / X-Rafiq-Token / Bearer
    audiosocket_allow: tuple[str, ...] = ()  # AudioSocket source networks (CIDR) allowed
    audiosocket_port: int = 9092  # Asterisk AudioSocket TCP port; 0 = off
    audiosocket_roles: tuple[str, ...] = ("customer",)  # role of audiosocket_port, audiosocket_port+1, …
    telephony_resume_s: float = 15.0  # a dropped telephony call waits this long for its reconnect
    # Identity and personal data (README "Security and personal data")
    bootstrap_admin: str = ""  # "username:password": this admin is created at start if missing
    demo_accounts: bool = False  # make run: demo agent/supervisor/trainer/admin, passwords printed once
    token_ttl_s: int = 8 * 3600  # access tokens and sign-in sessions last one shift
    auth_recheck_s: float = 5.0  # an open WebSocket re-checks its credential this often
    secure_cookies: str = "auto"  # auto: Secure when the request came over https; or true / false
    redact: tuple[str, ...] = ("card", "iban", "rib", "cin", "phone", "email", "birth_date")  # tenant default
    retention_days: int = 90  # tenant default: calls older than this are purged; 0 = kept forever
    purge_interval_s: float = 3600.0  # how often the retention purge runs
    max_body_bytes: int = 1 << 20  # largest HTTP request body (knowledge-base imports: kb_import_max_bytes)
    cors_origins: tuple[str, ...] = ()  # other web origins allowed to call the API; none by default
    # Call scripts and quality scoring (analytics/checklist.py, analytics/guidance.py)
    script_remind_after_s: float = 300.0  # open required steps reminded after this long; 0 = not by time
    script_meaning_threshold: float = 0.5  # cosine to a step's example sentence that ticks it
    # A cluster (README "Running a cluster"): nodes sharing database_url (PostgreSQL) and redis_url
    redis_url: str = ""  # empty: one process, as before
    node_id: str = ""  # empty: host-port-random, new at each start
    tenant_max_calls: int = 0  # live calls per tenant across the cluster (needs redis_url); 0 = no limit
    drain_s: float = 30.0  # SIGTERM: live calls get this long to finish before the process exits
    metrics_token: str = ""  # /metrics: bearer token Prometheus sends; empty = /metrics is public
    log_level: str = "INFO"
    log_format: str = "json"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "Settings":
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(f"RAFIQ_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            default = getattr(cls(), f.name)
            if isinstance(default, bool):
                values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            elif isinstance(default, int):
                values[f.name] = int(raw)
            elif isinstance(default, float):
                values[f.name] = float(raw)
            elif isinstance(default, Path):
                values[f.name] = Path(raw)
            elif isinstance(default, tuple):
                values[f.name] = tuple(part.strip() for part in raw.split(",") if part.strip())
            else:
                values[f.name] = raw
        values.update(overrides)
        return cls(**values)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'rafiq.db').resolve()}"
