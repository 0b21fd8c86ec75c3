"""The FastAPI application: wires speech, retrieval, knowledge base and call sessions together."""

from __future__ import annotations

import asyncio
import logging
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from knowledge_base.articles import ArticleStore
from knowledge_base.gaps import GapCollector
from knowledge_base.imports import ImportJobs, load_seed
from knowledge_base.service import KnowledgeBase
from retrieval.embeddings import UsemEmbeddings
from retrieval.index import PassageIndex
from speech.engine import DecodeOptions, SpeechEngine, WhisperRecognizer
from speech.models import load_whisper
from speech.streaming import StreamingConfig
from speech.vad import EndpointerConfig
from ui import STATIC_DIR

from .api import calls, demo, gaps, kb, telephony
from .config import Settings
from .events import EventBus
from .logs import setup_logging
from .records import CallRecords
from .sessions import CallRegistry
from .suggestions import Suggester
from .telephony.audiosocket import AudioSocketServer

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
    background: set = field(default_factory=set)


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


def build_services(settings: Settings) -> Services:
    db = create_engine(settings)
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
                                                        allowed_languages=settings.languages))
    engine = SpeechEngine(recognizer)
    records = CallRecords(db)
    interrupted = records.mark_interrupted()
    if interrupted:
        log.warning("calls interrupted by the last shutdown were closed", extra={"calls": interrupted})
    bus = EventBus()
    streaming = StreamingConfig(endpointing=EndpointerConfig(min_silence_ms=settings.vad_min_silence_ms),
                                partial_interval_s=settings.partial_interval_s)
    suggester = Suggester(knowledge, settings.suggestion_min_score, settings.suggestions_per_segment,
                          settings.suggestion_min_words, gaps=knowledge_gaps)
    registry = CallRegistry(engine, records, bus, suggester, streaming, call_limit(settings.max_calls, device.device),
                            resume_grace_s=settings.telephony_resume_s)
    return Services(settings=settings, kb=knowledge, records=records, bus=bus, calls=registry, engine=engine,
                    gaps=knowledge_gaps, imports=ImportJobs(knowledge))


async def _start_audiosocket(svc: Services) -> AudioSocketServer | None:
    """The Asterisk AudioSocket TCP listener(s), unless RAFIQ_AUDIOSOCKET_PORT is 0."""
    settings = svc.settings
    if not settings.audiosocket_port:
        return None
    roles = list(settings.audiosocket_roles)
    if not roles or len(set(roles)) != len(roles) or not set(roles) <= {"customer", "agent"}:
        raise ValueError(f"RAFIQ_AUDIOSOCKET_ROLES must list customer and/or agent once each, not {roles}")
    server = AudioSocketServer(svc, settings.host, settings.audiosocket_port, roles)
    try:
        await server.start()
    except OSError as exc:
        # The HTTP API and the WebSocket ingests still work; the log says why AudioSocket does not.
        log.error("audiosocket port unavailable", extra={"port": settings.audiosocket_port, "error": str(exc)})
        await server.close()
        return None
    return server


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    setup_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.services = await asyncio.to_thread(build_services, settings)
        log.info("rafiq ready", extra={"host": settings.host, "port": settings.port,
                                       "max_calls": app.state.services.calls.max_calls or "unlimited"})
        audiosocket = await _start_audiosocket(app.state.services)
        yield
        svc: Services = app.state.services
        if audiosocket is not None:
            await audiosocket.close()
        for session in list(svc.calls.live.values()):
            await session.finish("server_shutdown")
        await svc.engine.close()
        svc.kb.index.close()

    app = FastAPI(title="Rafiq", version="0.1.0", lifespan=lifespan,
                  summary="Real-time agent assist for multilingual call centres")
    app.include_router(calls.router)
    app.include_router(kb.router)
    app.include_router(gaps.router)
    app.include_router(demo.router)
    app.include_router(telephony.router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/v1/metrics", tags=["health"])
    async def metrics() -> dict:
        svc: Services = app.state.services
        finals, partials = svc.engine.pending()
        return {
            "live_calls": len(svc.calls.live),
            "asr_busy_seconds": round(svc.engine.busy_seconds, 3),
            "asr_audio_seconds": round(svc.engine.decoded_audio_seconds, 3),
            "asr_dropped_partials": svc.engine.dropped_partials,
            "asr_pending_finals": finals,
            "asr_pending_partials": partials,
        }

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def agent_panel() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/trainer", include_in_schema=False)
    async def trainer_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "trainer.html")

    return app
