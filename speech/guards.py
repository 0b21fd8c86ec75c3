"""Text-level checks on a decoded utterance: Whisper's known silence hallucinations, and the
Moroccan Darija hint."""

from __future__ import annotations

from .evaluation import normalise

# What Whisper writes on silence, music or breath: subtitle credits and video outros it saw in
# training. An utterance that is exactly one of these, or starts with a credit line and says
# little more, is dropped.
KNOWN_HALLUCINATIONS = {
    "en": ["thank you for watching", "thanks for watching", "please subscribe", "subscribe to my channel",
           "see you in the next video", "subtitles by the amara org community", "transcription by castingwords"],
    "fr": ["sous titres réalisés par la communauté d amara org", "sous titres réalisés para la communauté d amara org",
           "merci d avoir regardé cette vidéo", "merci d avoir regardé", "abonnez vous à la chaîne",
           "sous titrage st 501", "sous titrage société radio canada", "sous titres par"],
    "es": ["subtítulos por la comunidad de amara org", "subtítulos realizados por la comunidad de amara org",
           "gracias por ver el video", "gracias por ver", "suscríbete al canal", "subtitulado por"],
    "pt": ["legendas pela comunidade amara org", "obrigado por assistir", "inscreva se no canal",
           "legendas pela comunidade"],
    "ar": ["ترجمة نانسي قنقر", "اشتركوا في القناة", "شكرا على المشاهدة", "شكرا للمشاهدة", "ترجمة"],
}
# A credit line ("ترجمة …", "Subtitles by …") may go on with a name; allow that many more words.
_TRAILING_WORDS = 4



def _words(text: str) -> list[str]:
    # Elisions split: "d'Amara" and "d Amara" are the same words.
    return normalise(text).replace("'", " ").split()


_PHRASES = sorted({" ".join(_words(p)) for phrases in KNOWN_HALLUCINATIONS.values() for p in phrases}, key=len,
                  reverse=True)


def is_known_hallucination(text: str) -> bool:
    words = _words(text)
    if not words:
        return False
    joined = " ".join(words)
    for phrase in _PHRASES:
        if joined == phrase:
            return True
        if joined.startswith(phrase + " ") and len(words) <= len(phrase.split()) + _TRAILING_WORDS:
            return True
    return False


# Words of Moroccan Darija that MSA does not use, in Arabic script and in the Latin "Arabizi"
# spelling that callers type and that Whisper sometimes writes.
DARIJA_ARABIC = {
    "بغيت", "بغينا", "واش", "ديال", "ديالي", "ديالك", "ديالكم", "كيفاش", "شنو", "شنوا", "دابا", "مزيان", "بزاف",
    "عافاك", "واخا", "علاش", "ماشي", "كاين", "كاينة", "غادي", "غادية", "هادشي", "صافي", "خاصني", "خاصك",
    "نتوما", "فلوس", "شحال", "كنبغي", "ماكاينش", "بلاصة", "دغيا", "سير", "مابغاش",
}
DARIJA_LATIN = {
    "wach", "wash", "bghit", "bghina", "dyal", "dial", "dyali", "kifach", "kifash", "chno", "chnou", "daba",
    "mzyan", "mezyan", "bzaf", "bezzaf", "3afak", "afak", "wakha", "3lach", "machi", "kayn", "kayna", "ghadi",
    "safi", "khasni", "chhal", "flouss", "flous", "blassa", "dghya", "makaynch",
}


def darija_hint(text: str, language: str) -> bool:
    """True when the words show Moroccan Darija rather than MSA (or French with Arabizi)."""
    words = set(_words(text))
    if language == "ar" and words & DARIJA_ARABIC:
        return True
    # Latin-script Darija comes out tagged fr or en; two distinct markers avoid false alarms on
    # French words that look alike.
    return len(words & DARIJA_LATIN) >= 2
