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
import unicodedata

# After NFKD, أ إ آ ؤ ئ are their base letter + a combining hamza/madda, removed with the other marks.
_LETTERS = str.maketrans({
    "\u0671": "\u0627",  # ٱ alef wasla → ا
    "\u0649": "\u064a",  # ى alef maqsura → ي
    "\u0629": "\u0647",  # ة ta marbuta → ه
    "\u0640": None,      # tatweel
    "\u06cc": "\u064a",  # Persian yeh → ي
    "\u06a9": "\u0643",  # keheh → ك
    **{chr(0x0660 + d): str(d) for d in range(10)},
    **{chr(0x06F0 + d): str(d) for d in range(10)},
})
_WORD = re.compile(r"\w+", re.UNICODE)
_ARABIC = re.compile(r"[\u0621-\u064a]")
_ARTICLES = ("وال", "بال", "كال", "فال", "لل", "ال")


def normalise(text: str) -> str:
    """Folded words of ``text`` joined by single spaces (no punctuation)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = stripped.translate(_LETTERS).casefold()
    return " ".join(_WORD.findall(folded)).replace("_", " ").strip()


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
