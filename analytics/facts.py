"""Key facts heard in a call, for the chips the agent copies: amounts, dates, order / contract /
ticket numbers and the campaign's product names. Personal data (cards, IBAN, phones, e-mails,
ID numbers, birth dates; ``privacy.find_entities``) is never shown in full: a chip shows it
masked, keeping its last characters, and copies the masked form. Transcripts reach this module
already redacted per the tenant's settings; the masking covers tenants that redact less.
Pure Python, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from privacy import PLACEHOLDERS, find_entities

from .checklist import normalise

_NUMBER = r"\d{1,3}(?:[  .,]\d{3})*(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_CURRENCY = (r"€|euros?|eur|dirhams?|dhs?|mad|\$|dollars?|usd|£|pounds?|gbp|reais|real|brl|"
             r"pesos?|درهم|دراهم|اورو|يورو|دولار")
_AMOUNT = re.compile(rf"(?<![\w.,])(?:(?:{_CURRENCY})\s?(?:{_NUMBER})|(?:{_NUMBER})\s?(?:{_CURRENCY}))(?![\w])",
                     re.IGNORECASE)
_MONTHS = (r"janvier|fevrier|février|mars|avril|mai|juin|juillet|aout|août|septembre|octobre|novembre|decembre|"
           r"décembre|january|february|march|april|may|june|july|august|september|october|november|december|"
           r"enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre|"
           r"janeiro|fevereiro|março|marco|maio|junho|julho|setembro|outubro|novembro|dezembro|"
           r"يناير|فبراير|مارس|ابريل|أبريل|ماي|مايو|يونيو|يوليوز|يوليو|غشت|أغسطس|شتنبر|سبتمبر|أكتوبر|اكتوبر|نونبر|نوفمبر|دجنبر|ديسمبر")
_DATE = re.compile(
    rf"(?<!\w)(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}|\d{{4}}-\d{{2}}-\d{{2}}|"
    rf"(?:1er|\d{{1,2}})\s+(?:de\s+)?(?:{_MONTHS})(?:\s+(?:de\s+)?\d{{4}})?|"
    rf"(?:{_MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?)(?!\w)", re.IGNORECASE)
_REFERENCE_WORDS = (r"commande|contrat|dossier|ticket|facture|r[ée]f[ée]rence|r[ée]f|order|contract|invoice|"
                    r"reference|case|claim|pedido|contrato|factura|expediente|referencia|encomenda|fatura|"
                    r"refer[êe]ncia|processo|طلب|عقد|ملف|فاتورة|رقم")
_REFERENCE = re.compile(
    rf"(?:{_REFERENCE_WORDS})(?:\s+(?:n[°ºo]\.?|num[ée]ro|number|n[úu]mero|numero|no\.?|#|رقم))?\s*:?\s*"
    rf"(?P<ref>[A-Za-z]{{0,4}}[-]?\d[\d-]{{3,}}[A-Za-z0-9]*)", re.IGNORECASE)

KINDS = ("amount", "date", "reference", "product", "personal")


@dataclass(frozen=True)
class Fact:
    kind: str  # one of KINDS
    text: str  # what the chip shows and copies (masked for personal data)
    start: int  # offsets in the utterance
    end: int
    personal: str | None = None  # the kind of personal data, when masked

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "personal": self.personal}


def mask(value: str, keep: int = 2) -> str:
    """``value`` with every letter and digit hidden but the last ``keep`` of them."""
    total = sum(ch.isalnum() for ch in value)
    seen, out = 0, []
    for ch in value:
        if ch.isalnum():
            seen += 1
            out.append(ch if seen > total - keep else "•")
        else:
            out.append(ch)
    return "".join(out)


def extract_facts(text: str, language: str | None = None, products: Sequence[str] = ()) -> list[Fact]:
    """The facts in one utterance, in text order, none overlapping another or a redaction
    placeholder; personal data masked."""
    spans: list[tuple[int, int]] = []
    facts: list[Fact] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in spans)

    def take(fact: Fact) -> None:
        spans.append((fact.start, fact.end))
        facts.append(fact)

    for placeholder in PLACEHOLDERS.values():  # already redacted: nothing to show
        for found in re.finditer(re.escape(placeholder), text):
            spans.append(found.span())
    for entity in find_entities(text, language):
        if free(entity.start, entity.end):
            take(Fact("personal", mask(text[entity.start:entity.end]), entity.start, entity.end, entity.type))
    for found in _REFERENCE.finditer(text):
        start, end = found.span("ref")
        if free(start, end):
            take(Fact("reference", found.group("ref"), start, end))
    for pattern, kind in ((_DATE, "date"), (_AMOUNT, "amount")):
        for found in pattern.finditer(text):
            if free(*found.span()):
                take(Fact(kind, found.group(0).strip(), *found.span()))
    said = f" {normalise(text)} "
    for product in products:
        wanted = normalise(product)
        if wanted and f" {wanted} " in said:
            where = text.lower().find(product.lower())
            start = max(where, 0)
            if where < 0 or free(start, start + len(product)):
                take(Fact("product", product, start, start + len(product)))
    return sorted(facts, key=lambda fact: fact.start)
