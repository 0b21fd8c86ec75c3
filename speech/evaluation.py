"""Transcript scoring for tests and benchmarks: FLEURS-style normalisation and word error rate."""

from __future__ import annotations

import re
import unicodedata


def normalise(text: str) -> str:
    """Lower-case, no punctuation: the form of the FLEURS reference transcripts."""
    text = unicodedata.normalize("NFC", text.lower()).replace("’", "'")
    text = "".join(ch if (ch.isalnum() or ch in " '") else " " for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def word_error_rate(reference: str, hypothesis: str) -> float:
    import jiwer  # a test/bench dependency, not needed to serve

    return jiwer.wer(normalise(reference), normalise(hypothesis) or "<empty>")
