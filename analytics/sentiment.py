"""Sentiment of short texts (negative / neutral / positive) in French, Arabic, Spanish, English and
Portuguese, offline on the CPU: the multilingual sentence encoder already shipped for retrieval
(USE v3, 512-d) plus hashed character and word n-grams, into one linear head with a calibrated
softmax. The head is a small file trained by ``python -m analytics.train_sentiment`` and shipped
as package data (``analytics/models/sentiment.npz``); there is no download at run time."""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

log = logging.getLogger(__name__)

LABELS = ("negative", "neutral", "positive")  # index = the label in the training data (0/1/2)
MODEL_PATH = Path(__file__).resolve().parent / "models" / "sentiment.npz"


class Encoder(Protocol):
    """What the head needs from the sentence encoder (``retrieval.embeddings.UsemEmbeddings``)."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Sentiment:
    label: str  # one of LABELS
    score: float  # the calibrated probability of that label, 0..1

    def as_dict(self) -> dict:
        return {"label": self.label, "score": self.score}


class ModelMissing(RuntimeError):
    """The trained head is not installed: the service must not start without it."""


_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_URL = re.compile(r"https?://\S+|\bhttps?\b|www\.\S+")
_HANDLE = re.compile(r"@\w+")
_REPEAT = re.compile(r"(.)\1{2,}")
_TATWEEL_AND_MARKS = re.compile("[\u0640\u064b-\u065f\u0670]")  # Arabic elongation and short vowels
_SPACES = re.compile(r"\s+")


def clean(text: str) -> str:
    """The text as the head sees it: literal ``\\uXXXX`` escapes decoded, links and @handles
    dropped (tweets carry them, calls do not), letters repeated 3+ times cut to two ("soooo"),
    Arabic elongation and diacritics removed (ASR and writers use them inconsistently),
    Unicode NFKC, lower case."""
    text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    # Lone surrogates (valid JSON, invalid Unicode) would break the encoder's tokenizer.
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = _URL.sub(" ", text)
    text = _HANDLE.sub(" ", text)
    text = unicodedata.normalize("NFKC", text)
    text = _TATWEEL_AND_MARKS.sub("", text)
    text = _REPEAT.sub(r"\1\1", text)
    return _SPACES.sub(" ", text).strip().lower()


@dataclass(frozen=True)
class FeatureConfig:
    """How texts become features; saved in the model file so training and serving agree."""

    char_ngrams: tuple[int, int] = (2, 5)
    char_features: int = 2**17
    word_ngrams: tuple[int, int] = (1, 2)
    word_features: int = 2**16  # 0: no word n-grams
    embedding_weight: float = 1.0

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> "FeatureConfig":
        raw = json.loads(text)
        return cls(**{**raw, "char_ngrams": tuple(raw["char_ngrams"]), "word_ngrams": tuple(raw["word_ngrams"])})


class Featurizer:
    """Cleaned text → [sublinear tf-idf char n-grams | tf-idf word n-grams | weighted sentence
    embedding], each block L2-normalised. The hashing is stateless; only the idf weights are learnt."""

    def __init__(self, config: FeatureConfig, encoder: Encoder):
        self.config = config
        self.encoder = encoder
        # alternate_sign off: counts stay counts, so the sublinear tf and idf below apply as usual.
        self._char = HashingVectorizer(analyzer="char_wb", ngram_range=config.char_ngrams,
                                       n_features=config.char_features, alternate_sign=False, norm=None,
                                       lowercase=False)
        self._word = HashingVectorizer(analyzer="word", ngram_range=config.word_ngrams,
                                       n_features=max(config.word_features, 1), alternate_sign=False, norm=None,
                                       lowercase=False, token_pattern=r"(?u)\b\w+\b|[^\w\s]")
        self.idf: np.ndarray | None = None

    @property
    def width(self) -> int:
        return self.config.char_features + self.config.word_features + 512

    def counts(self, cleaned: Sequence[str]) -> sp.csr_matrix:
        blocks = [self._char.transform(cleaned)]
        if self.config.word_features:
            blocks.append(self._word.transform(cleaned))
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def fit_idf(self, counts: sp.csr_matrix) -> np.ndarray:
        """Smoothed idf, as scikit-learn's: ln((1 + n) / (1 + df)) + 1."""
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        self.idf = (np.log((1 + counts.shape[0]) / (1 + df)) + 1).astype(np.float32)
        return self.idf

    def transform(self, cleaned: Sequence[str], counts: sp.csr_matrix | None = None,
                  embeddings: np.ndarray | None = None) -> sp.csr_matrix:
        assert self.idf is not None, "fit_idf first"
        counts = self.counts(cleaned) if counts is None else counts
        x = counts.copy()
        x.data = 1 + np.log(x.data)
        x = x.multiply(self.idf).tocsr()
        c = self.config.char_features
        blocks = [_l2_rows(x[:, :c])]
        if self.config.word_features:
            blocks.append(_l2_rows(x[:, c:]))
        if embeddings is None:
            embeddings = self.encoder.encode(list(cleaned))
        blocks.append(sp.csr_matrix(embeddings * self.config.embedding_weight))
        return sp.hstack(blocks, format="csr", dtype=np.float32)


def _l2_rows(x: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1
    return sp.diags(1 / norms).dot(x).tocsr()


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class SentimentModel:
    """The trained head over the shared encoder. ``classify`` is thread-safe (the encoder locks)."""

    def __init__(self, featurizer: Featurizer, coef: np.ndarray, intercept: np.ndarray, temperature: float):
        self.featurizer = featurizer
        self.coef = np.asarray(coef, dtype=np.float32)  # (3, width)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.temperature = float(temperature)

    @classmethod
    def load(cls, encoder: Encoder, path: Path = MODEL_PATH) -> "SentimentModel":
        if not Path(path).is_file():
            raise ModelMissing(f"sentiment model not found at {path}: train it with "
                               f"`python -m analytics.train_sentiment` (see README, Sentiment)")
        with np.load(path, allow_pickle=False) as z:
            config = FeatureConfig.from_json(str(z["config"]))
            featurizer = Featurizer(config, encoder)
            featurizer.idf = z["idf"].astype(np.float32)
            model = cls(featurizer, z["coef"], z["intercept"], float(z["temperature"]))
        if model.coef.shape != (len(LABELS), featurizer.width):
            raise ModelMissing(f"sentiment model at {path} does not match its feature configuration")
        log.info("sentiment model loaded", extra={"path": str(path), "features": featurizer.width})
        return model

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # float16 halves the file; the scores move by < 1e-3, the labels not at all (checked by training).
        np.savez_compressed(path, config=np.array(self.featurizer.config.to_json()),
                            idf=self.featurizer.idf.astype(np.float16), coef=self.coef.astype(np.float16),
                            intercept=self.intercept, temperature=np.array(self.temperature))

    def logits(self, features: sp.csr_matrix) -> np.ndarray:
        return np.asarray(features @ self.coef.T) + self.intercept

    def classify(self, texts: Sequence[str]) -> list[Sentiment]:
        """One sentiment per text, in order. An empty text is neutral."""
        if not texts:
            return []
        cleaned = [clean(t) for t in texts]
        probs = softmax(self.logits(self.featurizer.transform(cleaned)), self.temperature)
        results = []
        for text, row in zip(cleaned, probs):
            if not text:
                results.append(Sentiment("neutral", 1.0))
                continue
            best = int(row.argmax())
            results.append(Sentiment(LABELS[best], round(float(row[best]), 4)))
        return results
