"""Lexical (BM25-style) sparse vectors with real tokenisation for fr, ar, es, en and pt.

Text is NFKC-normalised and lower-cased; Latin script is accent-folded after French/Italian
elisions (l', d', qu'…) are cut; Arabic loses diacritics and tatweel, alef/ya/ta marbuta forms
are unified and the article and common clitics are stripped. Stop words go, and a Snowball
stemmer (pure Python) reduces each word. Tokens are hashed (CRC32, stable across processes and
machines) into sparse-vector indices; a document weighs each token by BM25's term-frequency
part, a query weighs each of its tokens 1, and Qdrant supplies the IDF (``Modifier.IDF``), so
the dot product Qdrant computes is BM25.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from functools import lru_cache

import snowballstemmer

LANGUAGES = ("fr", "ar", "es", "en", "pt")
_SNOWBALL = {"fr": "french", "ar": "arabic", "es": "spanish", "en": "english", "pt": "portuguese"}

# BM25 parameters; AVERAGE_TOKENS is a passage's typical length after stop words (chunks are a
# few hundred characters), fixed so a document's weights do not depend on the rest of the index.
K1 = 1.2
B = 0.75
AVERAGE_TOKENS = 30.0

_STOP_WORDS = {
    "en": """a an the and or but if of to in on at by for with from as is are was were be been being am do does
        did doing have has had having i me my we our you your he him his she her it its they them their this that
        these those there here what which who whom whose when where why how not no nor so than too very can
        could would should will shall may might must just about into over under again further then once all any
        both each few more most other some such only own same s t don now up down out off also please hi hello""",
    "fr": """le la les l un une des du de d au aux et ou mais donc or ni car que qu qui quoi dont où ce cet cette
        ces c je j tu il elle on nous vous ils elles me m te t se s lui leur leurs mon ma mes ton ta tes son sa ses
        notre nos votre vos en y ne n pas plus est sont suis es êtes sommes était été être avoir ai as a avons avez
        ont avait fait faire dans sur sous par pour avec sans chez vers entre comme si bonjour merci très aussi
        bien tout tous toute toutes alors puis quand comment pourquoi combien quel quelle quels quelles""",
    "es": """el la los las lo un una unos unas y o u pero que qué quien quién cual cuál cuando cuándo donde dónde como
        cómo de del al a en con por para sin sobre entre hasta desde se me te le les nos os mi mis tu tus su sus
        nuestro nuestra yo tú él ella ellos ellas usted ustedes es son fue fueron ser estar está están estoy
        era eran ha han he has había hay muy más menos no sí ya también este esta estos estas ese esa esos esas
        eso esto aquel hola gracias por favor""",
    "pt": """o a os as um uma uns umas e ou mas que quem qual quando onde como de do da dos das ao aos à às em no na
        nos nas num numa com por pelo pela pelos pelas para sem sobre entre até desde se me te lhe lhes nós vós
        eu tu ele ela eles elas você vocês meu minha meus minhas seu sua seus suas é são foi foram ser estar está
        estão estou era eram há tem têm muito mais menos não sim já também este esta estes estas esse essa isso
        isto aquele olá obrigado obrigada""",
    # Written here already normalised (see _normalise_arabic): ة→ه, ى→ي, أإآ→ا.
    "ar": """في من الي علي عن مع هذا هذه ذلك تلك هو هي هم هن انا نحن انت انتم ما ماذا متي اين كيف لماذا هل كم اي
        التي الذي الذين او ثم لا لم لن ان قد كان كانت يكون كل بعض غير بين عند حتي اذا لقد وهو وهي وفي ومن
        او ايضا فقط هناك هنا مرحبا شكرا السلام عليكم""",
}
STOP_WORDS = {language: frozenset(words.split()) for language, words in _STOP_WORDS.items()}
_LATIN = ("fr", "es", "en", "pt")
# Letters and marks that only one of the Latin-script languages here writes.
_LETTER_HINTS = {"es": "¿¡ñ", "pt": "ãõ", "fr": "èêëîœù"}
_EXCLUSIVE_STOP_WORDS = {
    lang: STOP_WORDS[lang] - frozenset().union(*(STOP_WORDS[other] for other in _LATIN if other != lang))
    for lang in _LATIN
}

_ARABIC_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")  # tashkeel, tatweel
_ARABIC_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه",
                                 "ؤ": "ء", "ئ": "ء"})
# Eastern Arabic and Persian digits become 0-9, so "٢٠١٦" in an Arabic question matches "2016".
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
# The article and the clitics that attach to it: وال، بال، كال، فال، لل.
_ARABIC_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال")
_ELISION = re.compile(r"\b(?:l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu)['’]", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)
_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff]")


def _normalise_arabic(text: str) -> str:
    return _ARABIC_DIACRITICS.sub("", text).translate(_ARABIC_LETTERS)


def _fold_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def normalise(text: str) -> str:
    """Script-level normalisation shared by every language (the stemmer comes after)."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_DIGITS)
    text = _ELISION.sub(" ", text)
    return _normalise_arabic(text)


@lru_cache(maxsize=None)
def _stemmer(language: str):
    return snowballstemmer.stemmer(_SNOWBALL[language])


def _strip_arabic_prefix(word: str) -> str:
    for prefix in _ARABIC_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 2:
            return word[len(prefix):]
    return word


def detect_language(text: str) -> str | None:
    """Arabic by script; among the Latin-script languages, the one whose stop words it uses most."""
    if _ARABIC_SCRIPT.search(text):
        return "ar"
    words = _WORD.findall(normalise(text))
    # A stop word of one language only ("qué", "the", "não") counts double: shared ones ("de",
    # "la", "en") cannot tell French from Spanish.
    counts = {lang: sum(1 + (w in _EXCLUSIVE_STOP_WORDS[lang]) for w in words if w in STOP_WORDS[lang])
              for lang in _LATIN}
    for lang, marks in _LETTER_HINTS.items():
        counts[lang] += 2 * sum(text.count(mark) for mark in marks)
    best = max(counts, key=counts.get)
    return best if counts[best] else None


def tokens(text: str, language: str | None = None) -> list[str]:
    """Index terms of ``text``: normalised, without stop words, stemmed for ``language``.

    Without a language (or with one that has no stemmer here) it is detected from the text.
    Numbers and codes are kept whole ("ab-1234" gives "ab" and "1234").
    """
    language = language if language in _SNOWBALL else detect_language(text)
    normalised = normalise(text)
    words = _WORD.findall(normalised)
    stop = STOP_WORDS.get(language or "", frozenset())
    out: list[str] = []
    for word in words:
        if word in stop or (len(word) < 2 and not word.isdigit()):
            continue
        if _ARABIC_SCRIPT.search(word):
            word = _strip_arabic_prefix(word)
            stem = _stemmer("ar").stemWord(word)
        elif word.isdigit() or language not in _SNOWBALL or language == "ar":
            stem = word
        else:
            stem = _stemmer(language).stemWord(word)
        # Folding after stemming: the stemmers know their own accents (é, ç, ñ, ã).
        out.append(_fold_accents(stem) or stem)
    return out


def term_id(term: str) -> int:
    return zlib.crc32(term.encode("utf-8")) & 0x7FFFFFFF


def document_vector(text: str, language: str | None) -> tuple[list[int], list[float]]:
    """Sparse BM25 term-frequency weights of a passage (Qdrant multiplies in the IDF)."""
    counts = Counter(term_id(t) for t in tokens(text, language))
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / AVERAGE_TOKENS)
    indices = sorted(counts)
    return indices, [counts[i] * (K1 + 1) / (counts[i] + norm) for i in indices]


def query_vector(text: str, language: str | None = None) -> tuple[list[int], list[float]]:
    indices = sorted({term_id(t) for t in tokens(text, language)})
    return indices, [1.0] * len(indices)
