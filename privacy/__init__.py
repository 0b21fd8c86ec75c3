"""Personal data in transcripts: detection and redaction."""

from .redaction import KINDS, PLACEHOLDERS, Entity, find_entities, redact

__all__ = ["KINDS", "PLACEHOLDERS", "Entity", "find_entities", "redact"]
