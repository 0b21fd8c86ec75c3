"""Phrase matching for supervisors' alert rules across French, Arabic (and Darija, in Arabic
or Latin script), Spanish, English and Portuguese: both the rule's phrase and the transcript are
folded the same way (case, accents, Arabic letter variants and diacritics, punctuation), then the
phrase is looked up as whole words. A phrase ending in ``*`` also matches longer words
(``résili*`` finds « résiliation », « résilier »); an Arabic word also matches with the particles
written joined to it (« بمحامي » for « محامي »)."""

from __future__ import annotations

import re
import unicodedata

# Arabic letters written in several ways that speakers and ASR use interchangeably.
_ARABIC_FOLD = str.maketrans({
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا",  # alef with hamza / madda / wasla → bare alef
    "ى": "ي", "ئ": "ي", "ی": "ي",  # alef maqsura, yeh with hamza, Farsi yeh → yeh
    "ؤ": "و",  # waw with hamza → waw
    "ة": "ه",  # teh marbuta → heh
    "ک": "ك", "گ": "ك", "ڭ": "ك",  # Persian/Maghrebi kaf and gaf → kaf
    "ڤ": "ف", "ڥ": "ف",  # Maghrebi v / p written with feh
    "ـ": "",  # tatweel (elongation)
    # Arabic-Indic digits → ASCII, so "٣" and "3" agree
    "٠": "0", "١": "1", "٢": "2", "٣": "3", "٤": "4", "٥": "5", "٦": "6", "٧": "7", "٨": "8", "٩": "9",
})
_NOT_WORD = re.compile(r"[^\w*]+")
# Arabic writes some particles joined to the next word: "and"/"so" (و، ف), "with"/"for"/"like"
# (ب، ل، ك) and the article (ال, "لل" after ل). A phrase's Arabic word matches with them attached.
_ARABIC_PROCLITICS = r"(?:[وف]?[بكل]?(?:ال|ل)?)?"
_ARABIC_LETTER = re.compile(r"[\u0621-\u064a]")
_APOSTROPHES = re.compile(r"[’'`´]")


def fold(text: str) -> str:
    """``text`` lower-cased, without accents or Arabic diacritics, Arabic variants unified,
    apostrophes and punctuation turned into single spaces."""
    text = unicodedata.normalize("NFKD", text.casefold())
    # Combining marks: Latin accents and the Arabic harakat (fatha, damma, shadda, sukun…)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.translate(_ARABIC_FOLD)
    text = _APOSTROPHES.sub(" ", text)
    text = _NOT_WORD.sub(" ", text.replace("_", " "))
    return " ".join(text.split())


def compile_phrase(phrase: str) -> re.Pattern | None:
    """A regular expression finding ``phrase`` as whole words in ``fold``-ed text; None for a
    phrase with no letters or digits."""
    words = fold(phrase).split()
    parts = []
    for word in words:
        prefix = word.endswith("*")
        word = word.strip("*")
        if not word:
            continue
        clitics = _ARABIC_PROCLITICS if _ARABIC_LETTER.match(word) else ""
        parts.append(clitics + re.escape(word) + (r"\w*" if prefix else ""))
    if not parts:
        return None
    return re.compile(r"(?<!\w)" + r"\s+".join(parts) + r"(?!\w)")


class PhraseMatcher:
    """The phrases of one rule, compiled once; ``find`` says which of them a text contains."""

    def __init__(self, phrases: list[str]):
        self.phrases = [(phrase, pattern) for phrase in phrases if (pattern := compile_phrase(phrase)) is not None]

    def find(self, text: str) -> list[str]:
        return self.find_folded(fold(text))

    def find_folded(self, folded: str) -> list[str]:
        """``find`` on a text already ``fold``-ed (one fold per utterance, whatever the rules)."""
        return [phrase for phrase, pattern in self.phrases if pattern.search(folded)]
