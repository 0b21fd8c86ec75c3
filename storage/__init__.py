"""What every SQL store shares: UTC timestamp columns and additive schema migration, on SQLite
by default and PostgreSQL by URL."""

from .schema import UtcDateTime, ensure_schema

__all__ = ["UtcDateTime", "ensure_schema"]
