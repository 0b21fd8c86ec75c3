"""Wrap-up codes: each tenant's list (managed by supervisors and administrators; a default list
for a tenant that set none) and the choice of a suggested code for an ended call, by meaning
(the customer's utterances against each code's examples, multilingual vectors) and by phrases
(a code's key words heard in what the customer said)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from typing import Any

import numpy as np
import sqlalchemy as sa

from storage import UtcDateTime, ensure_schema

from .search_text import normalise
from .summary import Embed

metadata = sa.MetaData()

wrap_up_codes_table = sa.Table(
    "wrap_up_codes",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("codes", sa.JSON, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=True),
)

CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_CODES = 100
# Below this cosine, and with no phrase heard, the call gets the fallback code ("other").
MIN_MEANING = 0.40
PHRASE_BONUS = 0.25
FALLBACK = "other"


def _code(code, labels, description, examples, phrases=None):
    return {"code": code, "label": labels, "description": description, "examples": examples,
            "phrases": phrases or {}}


DEFAULT_CODES: list[dict[str, Any]] = [
    _code("billing", {"fr": "Facturation", "ar": "الفوترة", "en": "Billing", "es": "Facturación", "pt": "Faturação"},
          {"fr": "Question ou contestation d'une facture, d'un montant, d'un prélèvement",
           "en": "A question about or dispute of an invoice, an amount or a direct debit"},
          {"fr": ["Ma facture est trop élevée ce mois-ci", "Je ne comprends pas ce montant sur ma facture",
                  "On m'a prélevé deux fois"],
           "ar": ["فاتورتي مرتفعة جدا هذا الشهر", "لا أفهم هذا المبلغ في الفاتورة"],
           "en": ["My bill is too high this month", "I was charged twice"],
           "es": ["Mi factura es demasiado alta este mes"]},
          {"fr": ["facture", "prélèvement", "montant"], "ar": ["فاتورة", "الفاتورة"], "en": ["bill", "invoice", "charged"],
           "es": ["factura"], "pt": ["fatura"]}),
    _code("technical_issue", {"fr": "Problème technique", "ar": "مشكلة تقنية", "en": "Technical issue",
                              "es": "Problema técnico", "pt": "Problema técnico"},
          {"fr": "Panne, réseau, internet, appareil qui ne fonctionne pas",
           "en": "An outage, no network or internet, a device that does not work"},
          {"fr": ["Je n'ai plus internet depuis hier", "Mon téléphone ne capte plus le réseau", "La box ne s'allume pas"],
           "ar": ["الإنترنت لا يعمل منذ أمس", "لا توجد شبكة في هاتفي"],
           "en": ["My internet is not working", "I have no network on my phone"],
           "es": ["No tengo internet desde ayer"]},
          {"fr": ["panne", "réseau", "internet", "connexion"], "ar": ["الإنترنت", "الشبكة"], "en": ["outage", "network"],
           "es": ["avería", "red"], "pt": ["avaria", "rede"]}),
    _code("cancellation", {"fr": "Résiliation", "ar": "إلغاء الاشتراك", "en": "Cancellation", "es": "Baja",
                           "pt": "Cancelamento"},
          {"fr": "Le client veut résilier ou fermer son contrat ou son compte",
           "en": "The customer wants to cancel or close a contract or an account"},
          {"fr": ["Je veux résilier mon abonnement", "Je souhaite fermer mon compte"],
           "ar": ["أريد إلغاء اشتراكي", "أريد إغلاق حسابي"],
           "en": ["I want to cancel my subscription", "Close my account please"],
           "es": ["Quiero dar de baja mi contrato"]},
          {"fr": ["résilier", "résiliation", "fermer mon compte"], "ar": ["إلغاء", "فسخ"], "en": ["cancel"],
           "es": ["baja", "cancelar"], "pt": ["cancelar"]}),
    _code("complaint", {"fr": "Réclamation", "ar": "شكوى", "en": "Complaint", "es": "Reclamación", "pt": "Reclamação"},
          {"fr": "Mécontentement, plainte formelle, menace de recours",
           "en": "Dissatisfaction, a formal complaint, a threat of legal action"},
          {"fr": ["Je veux faire une réclamation", "C'est inadmissible, je vais prendre un avocat"],
           "ar": ["أريد تقديم شكوى", "هذا غير مقبول"],
           "en": ["I want to file a complaint", "This is unacceptable"],
           "es": ["Quiero poner una reclamación"]},
          {"fr": ["réclamation", "plainte", "avocat", "inadmissible"], "ar": ["شكوى", "محامي"],
           "en": ["complaint", "lawyer"], "es": ["reclamación", "queja", "abogado"], "pt": ["reclamação", "advogado"]}),
    _code("card_or_payment", {"fr": "Carte et paiement", "ar": "البطاقة والدفع", "en": "Card and payment",
                              "es": "Tarjeta y pago", "pt": "Cartão e pagamento"},
          {"fr": "Carte perdue, volée ou bloquée, paiement refusé, virement",
           "en": "A lost, stolen or blocked card, a refused payment, a transfer"},
          {"fr": ["J'ai perdu ma carte bancaire", "Ma carte est bloquée", "Mon paiement a été refusé"],
           "ar": ["فقدت بطاقتي البنكية", "بطاقتي محجوزة"],
           "en": ["I lost my card", "My card was declined"],
           "es": ["He perdido mi tarjeta"]},
          {"fr": ["carte", "virement", "paiement"], "ar": ["بطاقة", "البطاقة"], "en": ["card", "transfer"],
           "es": ["tarjeta"], "pt": ["cartão"]}),
    _code("account_change", {"fr": "Modification de compte ou d'offre", "ar": "تعديل الحساب أو العرض",
                             "en": "Account or plan change", "es": "Cambio de cuenta o tarifa",
                             "pt": "Alteração de conta ou tarifário"},
          {"fr": "Changer d'offre, d'adresse, de coordonnées, de forfait",
           "en": "Change plan, address, contact details"},
          {"fr": ["Je voudrais changer de forfait", "J'ai déménagé, je veux changer mon adresse"],
           "ar": ["أريد تغيير العرض", "أريد تغيير عنواني"],
           "en": ["I would like to change my plan", "I need to update my address"],
           "es": ["Quiero cambiar de tarifa"]},
          {"fr": ["forfait", "changer d'offre", "adresse"], "ar": ["تغيير"], "en": ["upgrade", "plan"],
           "es": ["tarifa"], "pt": ["tarifário"]}),
    _code("information", {"fr": "Demande d'information", "ar": "طلب معلومات", "en": "Information request",
                          "es": "Solicitud de información", "pt": "Pedido de informação"},
          {"fr": "Question générale sur un produit, un service, des horaires, des tarifs",
           "en": "A general question about a product, a service, opening hours or prices"},
          {"fr": ["Quels sont vos horaires d'ouverture", "Combien coûte cette offre"],
           "ar": ["ما هي مواعيد العمل", "كم سعر هذا العرض"],
           "en": ["What are your opening hours", "How much does this plan cost"],
           "es": ["Cuál es el horario de atención"]},
          {}),
    _code(FALLBACK, {"fr": "Autre", "ar": "أخرى", "en": "Other", "es": "Otro", "pt": "Outro"},
          {"fr": "Aucun autre code ne convient", "en": "No other code fits"}, {}, {}),
]


class BadCodes(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _texts(value: Any, name: str, many: bool) -> dict[str, Any]:
    """{language: text} (or {language: [texts]}) checked; a plain string is the same in every language."""
    if value is None:
        return {}
    if isinstance(value, str) and not many:
        return {"*": value}
    if not isinstance(value, dict) or not all(isinstance(k, str) and 1 <= len(k) <= 8 for k in value):
        raise BadCodes("bad_wrap_up_codes", f"{name} must be an object keyed by language")
    out: dict[str, Any] = {}
    for language, text in value.items():
        items = text if many else [text]
        if not isinstance(items, list) or not all(isinstance(t, str) and 0 < len(t) <= 500 for t in items) \
                or len(items) > 50:
            raise BadCodes("bad_wrap_up_codes", f"{name}.{language} must be "
                                                + ("a list of up to 50 texts" if many else "a text") + " (≤ 500 characters)")
        out[language] = [t.strip() for t in items] if many else items[0].strip()
    return out


def validate_codes(codes: Any) -> list[dict[str, Any]]:
    """A tenant's list as given to ``PUT /v1/wrap-up-codes``, checked and in its stored form."""
    if not isinstance(codes, list) or not 1 <= len(codes) <= MAX_CODES:
        raise BadCodes("bad_wrap_up_codes", f"codes must be a list of 1 to {MAX_CODES} codes")
    seen: set[str] = set()
    out = []
    for entry in codes:
        if not isinstance(entry, dict) or not isinstance(entry.get("code"), str) or not CODE_PATTERN.match(entry["code"]):
            raise BadCodes("bad_wrap_up_code", "each code needs a 'code' of 1-64 lower-case letters, digits, '_', '.', '-'")
        if entry["code"] in seen:
            raise BadCodes("duplicate_wrap_up_code", f"code {entry['code']!r} is listed twice")
        seen.add(entry["code"])
        label = _texts(entry.get("label"), "label", False)
        if not label:
            raise BadCodes("bad_wrap_up_codes", f"code {entry['code']!r} needs a label")
        out.append({"code": entry["code"], "label": label,
                    "description": _texts(entry.get("description"), "description", False),
                    "examples": _texts(entry.get("examples"), "examples", True),
                    "phrases": _texts(entry.get("phrases"), "phrases", True)})
    return out


def label_of(code: dict[str, Any], language: str | None) -> str:
    labels = code.get("label") or {}
    return labels.get(language or "") or labels.get("*") or labels.get("en") or next(iter(labels.values()), code["code"])


class WrapUpCodes:
    """Each tenant's wrap-up codes, and the suggestion of one for a call."""

    def __init__(self, engine: sa.Engine, embed: Embed | None):
        self.engine = engine
        self.embed = embed
        ensure_schema(engine, metadata)
        self._vectors: dict[str, tuple[np.ndarray, list[int]]] = {}  # list fingerprint → (examples, code index)
        self._lock = threading.Lock()

    def codes(self, tenant: str) -> tuple[list[dict[str, Any]], bool]:
        """(the tenant's codes, whether they are the default list)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(wrap_up_codes_table.c.codes)
                               .where(wrap_up_codes_table.c.tenant == tenant)).first()
        return (list(row[0]), False) if row else (DEFAULT_CODES, True)

    def replace(self, tenant: str, codes: Any, by: str, at) -> list[dict[str, Any]]:
        checked = validate_codes(codes)
        t = wrap_up_codes_table
        with self.engine.begin() as conn:
            if not conn.execute(t.update().where(t.c.tenant == tenant)
                                .values(codes=checked, updated_by=by, updated_at=at)).rowcount:
                conn.execute(t.insert().values(tenant=tenant, codes=checked, updated_by=by, updated_at=at))
        return checked

    def find(self, tenant: str, code: str) -> dict[str, Any] | None:
        return next((c for c in self.codes(tenant)[0] if c["code"] == code), None)

    def _example_vectors(self, codes: list[dict[str, Any]]) -> tuple[np.ndarray, list[int]]:
        key = hashlib.sha256(json.dumps(codes, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        with self._lock:
            cached = self._vectors.get(key)
        if cached is not None:
            return cached
        texts, owners = [], []
        for index, code in enumerate(codes):
            for text in [t for items in code.get("examples", {}).values() for t in items] + \
                        list(code.get("description", {}).values()):
                texts.append(text)
                owners.append(index)
        vectors = self.embed(texts) if (self.embed and texts) else np.zeros((0, 1), dtype=np.float32)
        with self._lock:
            if len(self._vectors) > 64:
                self._vectors.clear()
            self._vectors[key] = (vectors, owners)
        return vectors, owners

    def suggest(self, tenant: str, customer_texts: list[str]) -> tuple[str | None, float | None]:
        """The code whose examples are nearest in meaning to what the customer said (best pair of
        utterance and example), plus a bonus when one of its phrases was said; the fallback code
        ("other", when listed) when nothing is near enough."""
        codes, _ = self.codes(tenant)
        if not codes:
            return None, None
        fallback = next((c["code"] for c in codes if c["code"] == FALLBACK), None)
        texts = [t for t in customer_texts if t.strip()]
        if not texts:
            return fallback, None
        scores = np.zeros(len(codes), dtype=np.float32)
        vectors, owners = self._example_vectors(codes)
        if self.embed and len(owners):
            similarity = self.embed(texts) @ vectors.T  # utterances × examples
            best = similarity.max(axis=0)
            for column, owner in enumerate(owners):
                scores[owner] = max(scores[owner], best[column])
        heard = f" {normalise(' '.join(texts))} "
        for index, code in enumerate(codes):
            phrases = [normalise(p) for items in code.get("phrases", {}).values() for p in items]
            if any(p and f" {p} " in heard for p in phrases):
                scores[index] += PHRASE_BONUS
        ranked = [i for i in np.argsort(-scores) if codes[i]["code"] != FALLBACK]
        if not ranked or scores[ranked[0]] < MIN_MEANING:
            return fallback, (float(scores[ranked[0]]) if ranked else None)
        return codes[ranked[0]]["code"], round(float(scores[ranked[0]]), 4)
