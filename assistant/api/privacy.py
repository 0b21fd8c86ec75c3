"""Personal-data redaction as a service, for other channels (chat, e-mail) and for testing."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from privacy import redact

from .auth import Caller

router = APIRouter(tags=["privacy"])

EntityType = Literal["card", "iban", "rib", "cin", "phone", "email", "birth_date"]


class RedactIn(BaseModel):
    text: str = Field(max_length=100_000)
    language: Literal["fr", "ar", "es", "en", "pt"] | None = None


class EntityOut(BaseModel):
    type: EntityType
    start: int = Field(description="offset in the input text, in characters")
    end: int = Field(description="offset just past the entity in the input text")


class RedactOut(BaseModel):
    text: str
    entities: list[EntityOut]


@router.post("/v1/redact")
async def redact_text(body: RedactIn, caller: Caller) -> RedactOut:
    """Every kind is detected here, whatever the tenant's settings for its calls."""
    text, entities = redact(body.text, body.language)
    return RedactOut(text=text, entities=[EntityOut(type=e.type, start=e.start, end=e.end) for e in entities])
