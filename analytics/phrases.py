"""Phrase matching for supervisors' alert rules across French, Arabic (and Darija, in Arabic
or Latin script), Spanish, English and Portuguese: both the rule's phrase and the transcript are
folded the same way (case, accents, Arabic letter variants and diacritics, punctuation), then the
phrase is looked up as whole words. A phrase ending in ``*`` also matches longer words
(``résili*`` finds « résiliation », « résilier »); an Arabic word also matches with the particles
written joined to it (« بمحامي » for « محامي »)."""

from __future__ import annotations

import re

from .text import fold_letters

_NOT_WORD = re.compile(r"[^\w*]+")
# Arabic writes some particles joined to the next word: "and"/"so" (و، ف), "with"/"for"/"like"
# (ب، ل، ك) and the article (ال, "لل" after ل). A phrase's Arabic word matches with them attached.
_ARABIC_PROCLITICS = r"(?:[وف]?[بكل]?(?:ال|ل)?)?"
_ARABIC_LETTER = re.compile(r"[\u0621-\u064a]")
_APOSTROPHES = re.compile(r"[’'`´]")


def fold(text: str) -> str:
    """``text`` lower-cased, without accents or Arabic diacritics, Arabic variants unified,
    apostrophes and punctuation turned into single spaces."""
    text = _APOSTROPHES.sub(" ", fold_letters(text))
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
