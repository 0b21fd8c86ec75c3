"""Text folding for call-history search: the same function turns transcripts (when they are
indexed) and queries (when they are asked) into comparable words, so a supervisor finds a call
however the word was spelt.

Latin scripts: case folded, accents removed (« Résilier » = « resilier »). Arabic: diacritics
(harakat, shadda, sukun, superscript alef) and tatweel removed, the hamza and madda forms of alef
(أ إ آ ٱ) read as ا, ى as ي, ة as ه, ؤ as و and ئ as ي, Eastern Arabic and Persian digits as 0-9.
An Arabic word with the article (ال، وال، بال، كال، فال، لل) is indexed with and without it, so
« فاتورة » finds « الفاتورة ».
"""

from __future__ import annotations

import re

from .text import fold_letters

_WORD = re.compile(r"\w+", re.UNICODE)
_ARABIC = re.compile(r"[\u0621-\u064a]")
_ARTICLES = ("وال", "بال", "كال", "فال", "لل", "ال")


def normalise(text: str) -> str:
    """Folded words of ``text`` joined by single spaces (no punctuation)."""
    return " ".join(_WORD.findall(fold_letters(text))).replace("_", " ").strip()


def words(text: str) -> list[str]:
    """The folded words of a query, each at most 64 characters, duplicates removed, in order."""
    seen: list[str] = []
    for word in normalise(text).split():
        word = word[:64]
        if word not in seen:
            seen.append(word)
    return seen


def _without_article(word: str) -> str | None:
    if not _ARABIC.match(word):
        return None
    for article in _ARTICLES:
        if word.startswith(article) and len(word) - len(article) >= 2:
            return word[len(article):]
    return None


def index_text(texts: list[str]) -> str:
    """What is stored for searching a call: its utterances folded, plus the Arabic words'
    article-less forms."""
    out: list[str] = []
    for text in texts:
        for word in normalise(text).split():
            out.append(word)
            bare = _without_article(word)
            if bare:
                out.append(bare)
    return " ".join(out)
