"""Text folding shared by alert phrases, checklist detection and history search: one answer to
"are these the same letters" across French, Spanish, English, Portuguese, Arabic and Darija, so
that a rule, a checklist step and a search agree on what matches."""

from __future__ import annotations

import unicodedata

# Letters written in several ways that speakers and ASR use interchangeably. After NFKD, أ إ آ ؤ ئ
# are already their base letter plus a combining hamza/madda, removed with the other marks.
ARABIC_LETTERS = str.maketrans({
    "ٱ": "ا",  # alef wasla → bare alef
    "ى": "ي", "ی": "ي",  # alef maqsura, Farsi yeh → yeh
    "ة": "ه",  # teh marbuta → heh
    "ک": "ك", "گ": "ك", "ڭ": "ك",  # Persian/Maghrebi kaf and gaf → kaf
    "ڤ": "ف", "ڥ": "ف",  # Maghrebi v / p written with feh (Darija)
    "ـ": None,  # tatweel (elongation)
    # Arabic-Indic and Persian digits → ASCII, so "٣" and "3" agree
    **{chr(0x0660 + d): str(d) for d in range(10)},
    **{chr(0x06F0 + d): str(d) for d in range(10)},
})


def fold_letters(text: str) -> str:
    """``text`` case-folded, without accents or Arabic diacritics (harakat, shadda, hamza and
    madda marks), Arabic letter variants and digits unified. Punctuation and spaces are kept:
    each caller splits words its own way."""
    decomposed = unicodedata.normalize("NFKD", (text or "").casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(ARABIC_LETTERS)
