"""Records and articles persist in SQLite (default) and in PostgreSQL (by URL), across restarts."""

import os
import uuid

import httpx
import pytest
import sqlalchemy as sa

from assistant.launcher import ServerProcess
from assistant.records import CallRecords, utcnow
from assistant.simulate import stream_audio
from knowledge_base.articles import ArticleIn, ArticleStore
from speech.audio import decode_file
from tests.conftest import Floor, fleurs_clip, new_call_id

POSTGRES_ADMIN_URL = os.environ.get("RAFIQ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def postgres_url():
    """A fresh database on the PostgreSQL server, dropped afterwards."""
    name = f"rafiq_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'rafiq.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def test_article_variants_upsert_by_group_and_language(db_engine):
    store = ArticleStore(db_engine)
    first = store.upsert(ArticleIn(title="Bloquer une carte", body="Appelez le 0800.", language="fr",
                                   group_id="card", tenant="acme"))
    again = store.upsert(ArticleIn(title="Bloquer une carte perdue", body="Appelez vite le 0800.", language="fr",
                                   group_id="card", tenant="acme"))
    english = store.upsert(ArticleIn(title="Block a card", body="Call 0800.", language="en", group_id="card",
                                     tenant="acme"))
    assert again.id == first.id and again.created_at == first.created_at
    assert store.get(first.id).title == "Bloquer une carte perdue"
    assert store.variant("acme", "card", "en").id == english.id
    assert store.variant("other", "card", "en") is None
    assert store.count() == 2


def test_call_records_keep_events_in_order(db_engine):
    records = CallRecords(db_engine)
    records.create("c-1", "acme", ["customer", "agent"], None, utcnow())
    for seq, kind in enumerate(["call.started", "transcript.final", "suggestion"], 1):
        records.append("c-1", seq, {"type": kind, "seq": seq, "text": "bonjour السلام عليكم"})
    records.end("c-1", "stop", utcnow())
    call = records.get("c-1")
    assert call["status"] == "ended" and call["roles"] == ["customer", "agent"] and call["end_reason"] == "stop"
    assert [e["seq"] for e in records.events("c-1")] == [1, 2, 3]
    assert records.events("c-1", after_seq=2)[0]["text"] == "bonjour السلام عليكم"
    with pytest.raises(sa.exc.IntegrityError):
        records.append("c-1", 3, {"type": "suggestion", "seq": 3})


async def test_server_on_postgresql_keeps_calls_and_articles_across_a_restart(tmp_path, postgres_url):
    clip, _ = fleurs_clip("es", 2)
    call_id = new_call_id("pg")
    env = {"RAFIQ_DATABASE_URL": postgres_url}
    first = ServerProcess(tmp_path / "first", **env)
    with first as base:
        floor = Floor(first)
        article = httpx.post(f"{base}/v1/kb/articles", headers=floor.headers("trainer"), json={
            "title": "Horario", "body": "Abrimos de lunes a viernes.", "language": "es"}).json()
        result = await stream_audio(decode_file(clip), f"ws{base[4:]}/v1/calls/{call_id}/audio", speed=0,
                                    api_key=floor.ingest_key())
        assert result["close_code"] == 1000
        before = httpx.get(f"{base}/v1/calls/{call_id}", headers=floor.headers("supervisor")).json()
    assert before["segments"]
    # A new process (and a new Qdrant folder) on the same database: the records are still there,
    # and so are the accounts: the tokens issued by the first process still sign in.
    with ServerProcess(tmp_path / "second", **env) as base:
        after = httpx.get(f"{base}/v1/calls/{call_id}", headers=floor.headers("supervisor")).json()
        assert after["segments"] == before["segments"]
        assert httpx.get(f"{base}/v1/kb/articles/{article['id']}",
                         headers=floor.headers("trainer")).json()["body"] == "Abrimos de lunes a viernes."
