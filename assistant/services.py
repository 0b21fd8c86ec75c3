"""The process's services, built once at start-up from the settings: the databases, the models,
the knowledge base, accounts and audit, and the live calls."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Callable

import sqlalchemy as sa

from accounts import AccountStore, Principal
from analytics.alerts import AlertRules
from analytics.checklist import Detector
from analytics.guidance import GuidanceObserver
from analytics.history import CallHistory
from analytics.quality import QualityStore
from analytics.sentiment import SentimentModel
from analytics.stats import CallStats
from analytics.summary import CallSummaries
from analytics.wrapup import WrapUpCodes
from cluster.state import ClusterState
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

from .call_stats import CallStatsObserver
from .cluster_node import NODE_TTL_S, ClusterNode, event_bus, node_id_for, redis_clients
from .compute import CallComputeObserver, asr_watts
from .config import Settings
from .events import Bus, EventBus
from .floor import FloorService
from .live_sentiment import SentimentObserver
from .memory import MemoryReleaser
from .metrics import Metrics
from .post_call import PostCall
from .records import PLATFORM_COLUMNS, CallRecords, calls_table
from .sessions import CallRegistry
from .suggestions import Suggester
from .telephony.auth import IngressAuth

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    kb: KnowledgeBase
    records: CallRecords
    bus: Bus
    calls: CallRegistry
    engine: SpeechEngine
    gaps: GapCollector
    imports: ImportJobs
    accounts: AccountStore
    audit: AuditLog
    stats: CallStats
    quality: QualityStore  # quality checklists / call scripts and call scores
    floor: FloorService  # the supervisors' live floor and alert rules
    sentiment: SentimentModel
    background: set = field(default_factory=set)
    # What else is derived from a call and goes with it when it is erased (retention, erasure):
    # name → function(call_ids) → rows removed. Each analytics store adds itself here.
    call_erasers: dict[str, Callable[[list[str]], int]] = field(default_factory=dict)
    # Short-lived credentials the process gives itself (the demo call streams through the real
    # ingest socket): secret → principal. Never stored, gone at restart.
    internal_credentials: dict[str, Principal] = field(default_factory=dict)
    # Telephony credentials and their tenant bindings (assistant/telephony/auth.py).
    ingress: IngressAuth | None = None
    # Call history search, post-call summaries and wrap-up codes (assistant.post_call).
    history: CallHistory | None = None
    post_call: PostCall | None = None
    cluster: ClusterNode | None = None  # when RAFIQ_REDIS_URL is set
    metrics: Metrics | None = None  # GET /metrics


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
    ingress = IngressAuth(settings)  # first: a malformed credential stops the start at once
    ingress.log_startup()
    db = create_engine(settings)
    accounts = open_accounts(settings, db)
    audit = AuditLog(db)
    embeddings = UsemEmbeddings(threads=2)
    # Before the slower models: a missing trained head stops the start-up at once, with the fix.
    sentiment = SentimentModel.load(embeddings)
    index = PassageIndex.open(embeddings, settings.qdrant_url or None, settings.data_dir / "qdrant")
    index_kept = index.count() > 0  # from an earlier run: in a cluster, peers may have changed articles since
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
    if settings.redis_url:
        # In a cluster other nodes' calls are live too: a lost node's are ended by its peers.
        redis_async, redis_sync = redis_clients(settings)
        bus: Bus = event_bus(redis_async)
    else:
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
    stats = CallStats(db)
    quality = QualityStore(db)
    floor = FloorService(AlertRules(db), bus)
    # The knowledge base's embeddings (already loaded) also choose wrap-up codes and summaries.
    history, summaries = CallHistory(db, calls_table, PLATFORM_COLUMNS), CallSummaries(db)
    post_call = PostCall(records, history, summaries, WrapUpCodes(db, embeddings.encode), embeddings.encode)
    registry.observers.extend([
        SentimentObserver(sentiment),  # first: the others read the sentiment it adds to each final
        CallComputeObserver(engine, device.device, asr_watts(settings, device.device)),
        CallStatsObserver(records, stats),
        GuidanceObserver(quality, Detector(embeddings, settings.script_meaning_threshold),
                         remind_after_s=settings.script_remind_after_s),
        floor,
        post_call,
    ])
    if settings.llm_url:
        from .drafting import Drafter, DraftingObserver  # LangChain is loaded only when drafting is on

        registry.observers.append(DraftingObserver(
            Drafter(settings.llm_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout_s), knowledge))
        log.info("reply drafting on", extra={"llm_url": settings.llm_url, "model": settings.llm_model})
    cluster = None
    if settings.redis_url:
        state = ClusterState(redis_async, node_id_for(settings), node_ttl_s=NODE_TTL_S)
        cluster = registry.cluster = ClusterNode(settings, state, redis_sync, registry, knowledge, bus,
                                                 index_may_be_stale=index_kept)
        registry.observers.append(cluster)
    metrics = Metrics(cluster.node_id if cluster is not None else settings.node_id or f"{settings.host}:{settings.port}",
                      registry, engine)
    registry.observers.append(metrics)
    registry.observers.append(MemoryReleaser())  # last: after every other observer let go of the call
    engine.on_wait = metrics.observe_wait
    logging.getLogger("assistant").addHandler(metrics.error_handler)
    return Services(cluster=cluster, metrics=metrics, settings=settings, kb=knowledge, records=records, bus=bus,
                    calls=registry, engine=engine,
                    gaps=knowledge_gaps, imports=ImportJobs(knowledge), accounts=accounts, audit=audit, stats=stats,
                    quality=quality, floor=floor, ingress=ingress, sentiment=sentiment, history=history,
                    post_call=post_call,
                    call_erasers={"call_stats": stats.erase, "quality_scores": quality.erase,
                                  "call_search": history.erase, "call_summaries": summaries.erase})
