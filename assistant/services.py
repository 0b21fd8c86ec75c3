"""The process's services, built once at start-up from the settings: the databases, the models,
the knowledge base, accounts and audit, and the live calls."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import sqlalchemy as sa

from accounts import AccountStore, Principal
from knowledge_base.articles import ArticleStore
from knowledge_base.gaps import GapCollector
from knowledge_base.imports import ImportJobs, load_seed
from knowledge_base.service import KnowledgeBase
from privacy import KINDS
from retrieval.embeddings import UsemEmbeddings
from retrieval.index import PassageIndex
from security.audit import AuditLog
from speech.engine import DecodeOptions, SpeechEngine, WhisperRecognizer
from speech.models import load_whisper
from speech.streaming import StreamingConfig
from speech.vad import EndpointerConfig

from .config import Settings
from .events import EventBus
from .records import CallRecords
from .sessions import CallRegistry
from .suggestions import Suggester

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    kb: KnowledgeBase
    records: CallRecords
    bus: EventBus
    calls: CallRegistry
    engine: SpeechEngine
    gaps: GapCollector
    imports: ImportJobs
    accounts: AccountStore
    audit: AuditLog
    background: set = field(default_factory=set)
    # Short-lived credentials the process gives itself (the demo call streams through the real
    # ingest socket): secret → principal. Never stored, gone at restart.
    internal_credentials: dict[str, Principal] = field(default_factory=dict)


def create_engine(settings: Settings) -> sa.Engine:
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # WAL lets readers (replays, the board) run while a call writes its events.
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def call_limit(configured: int, device: str) -> int:
    """Live calls this process takes: as configured, or by default one per CPU core on a CPU
    (measured: 2 cores sustain 2 real-time calls with Whisper base, not 3; see bench/asr.py)
    and no limit on a GPU, where no figure was measured yet."""
    if configured >= 0:
        return configured
    return (os.cpu_count() or 1) if device == "cpu" else 0


def default_redaction(settings: Settings) -> list[str]:
    """RAFIQ_REDACT: the kinds redacted for a tenant without its own setting ("none" for none)."""
    kinds = [] if [k.lower() for k in settings.redact] == ["none"] else list(settings.redact)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"RAFIQ_REDACT: unknown kinds {unknown}; known: {', '.join(KINDS)} (or none)")
    return kinds


def open_accounts(settings: Settings, db: sa.Engine | None = None) -> AccountStore:
    return AccountStore(db or create_engine(settings), default_redact=default_redaction(settings),
                        default_retention_days=settings.retention_days)


def agent_team(accounts: AccountStore, tenant: str, username: str) -> str | None:
    """The team of the tenant's user ``username`` (a call's team, which scopes supervisors)."""
    user = accounts.find_user(username)
    return user.team if user is not None and user.tenant == tenant else None


def build_services(settings: Settings) -> Services:
    db = create_engine(settings)
    accounts = open_accounts(settings, db)
    audit = AuditLog(db)
    embeddings = UsemEmbeddings(threads=2)
    index = PassageIndex.open(embeddings, settings.qdrant_url or None, settings.data_dir / "qdrant")
    knowledge = KnowledgeBase(ArticleStore(db), index)
    if settings.seed_kb and knowledge.store.count() == 0:
        report = load_seed(knowledge)
        log.info("seed knowledge base loaded", extra={"articles": report.created + report.updated})
    knowledge_gaps = GapCollector(db, embeddings, threshold=settings.gap_threshold)
    model, device = load_whisper(settings.asr_model, settings.model_cache, settings.asr_device,
                                 settings.asr_compute_type, settings.asr_threads)
    recognizer = WhisperRecognizer(model, DecodeOptions(beam_size=settings.asr_beam_size,
                                                        allowed_languages=settings.languages,
                                                        partial_pad_s=settings.asr_partial_pad_s or None,
                                                        final_pad_s=settings.asr_final_pad_s or None))
    engine = SpeechEngine(recognizer)
    records = CallRecords(db)
    interrupted = records.mark_interrupted()
    if interrupted:
        log.warning("calls interrupted by the last shutdown were closed", extra={"calls": interrupted})
    bus = EventBus()
    streaming = StreamingConfig(endpointing=EndpointerConfig(min_silence_ms=settings.vad_min_silence_ms),
                                partial_interval_s=settings.partial_interval_s)
    suggester = Suggester(knowledge, settings.suggestion_min_score, settings.suggestions_per_segment,
                          settings.suggestion_min_words, gaps=knowledge_gaps,
                          provisional_min_score=settings.suggestion_provisional_min_score,
                          speculate=settings.speculative_suggestions)
    registry = CallRegistry(engine, records, bus, suggester, streaming, call_limit(settings.max_calls, device.device),
                            resume_grace_s=settings.telephony_resume_s,
                            redaction=lambda tenant: accounts.tenant_settings(tenant).redact,
                            agent_team=lambda tenant, agent: agent_team(accounts, tenant, agent))
    if settings.llm_url:
        from .drafting import Drafter, DraftingObserver  # LangChain is loaded only when drafting is on

        registry.observers.append(DraftingObserver(
            Drafter(settings.llm_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout_s), knowledge))
        log.info("reply drafting on", extra={"llm_url": settings.llm_url, "model": settings.llm_model})
    return Services(settings=settings, kb=knowledge, records=records, bus=bus, calls=registry, engine=engine,
                    gaps=knowledge_gaps, imports=ImportJobs(knowledge), accounts=accounts, audit=audit)
