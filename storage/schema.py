"""SQL column types shared by the stores (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa


class UtcDateTime(sa.types.TypeDecorator):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use UTC-aware datetimes")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def ensure_schema(engine: sa.Engine, metadata: sa.MetaData) -> list[str]:
    """Create missing tables, add missing columns to existing ones, create missing indexes.

    Columns are only ever added (with their server default), never dropped or changed, so a
    database written by an older Rafiq keeps its rows. Returns "table.column" for each column
    added, so the caller can backfill them.
    """
    metadata.create_all(engine)
    added: list[str] = []
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        existing = {column["name"] for column in inspector.get_columns(table.name)}
        missing = [column for column in table.columns if column.name not in existing]
        if not missing:
            continue
        with engine.begin() as conn:
            for column in missing:
                column_type = column.type.compile(dialect=engine.dialect)
                # Server defaults are written as sa.text(...) SQL fragments in the table definitions.
                default = f" DEFAULT {column.server_default.arg.text}" if column.server_default is not None else ""
                conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN {column.name} {column_type}{default}'))
                added.append(f"{table.name}.{column.name}")
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(engine, checkfirst=True)
    return added
