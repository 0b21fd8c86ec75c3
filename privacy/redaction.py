"""Find and redact personal data in call transcripts (fr, ar/Darija, es, en, pt).

Transcripts come from a speech recogniser, so a number may be written as digits ("06 12 34 56
78", Arabic-Indic "٠٦ ١٢ ..."), as number words ("zéro six douze trente-quatre ...", "صفر ستة
طناش ..."), and letters may be spelled ("B comme Bernard", "bé ka"). The text is cut into
*units* once: number groups (a digit token, or a phrase of number words read as one number:
"soixante-dix-huit" -> 78), letters, "+" signs, punctuation and other words, each with its
offsets in the input. Every detector reads that stream:

* card      13-19 digits, Luhn-valid, covering a whole run of number groups;
* iban      country code + check digits + BBAN of that country's length, ISO 13616 mod-97 valid;
* rib       24 digits (bank 3, town 3, account 16, key 2) covering a whole run, key valid;
* phone     0[1-79] + 8 digits (Morocco, France), 07 + 9 (UK), (+|00)212 [0] [5-7] + 8 digits,
            + / 00 then 8-15 digits; after a phone word only, 9 digits without the 0 (Spain,
            Portugal) or a country code without "+"; never right after an order/product word;
            a self-correction ("douze, non pardon, zéro six treize ...") restarts the number;
* cin       1-2 letters then 1-6 digits: the compact shape "BK123456" (or uppercase letters +
            one 5-6 digit token) alone, any other form ("B comme Bernard, K, 45 21 18") only
            near an ID-card phrase (before, or just after); never an amount ("B 45000 dirhams");
* email     written addresses, and spoken ones ("x point y arobase gmail point com");
* birth_date a date (or a year) right after a birth phrase ("né le", "date of birth",
            "nacido el", "data de nascimento", "تاريخ الازدياد", "مزداد ف" ...), or right before
            one that names it ("3-3-87, esa es mi fecha de nacimiento"); two-digit years
            ("le trois mars quatre-vingt-sept", "del noventa") only after a day and a month.

Hesitations and corrections ("euh", "eh", "yaani", "wakha", "non pardon", "sorry") and pauses
(",", "...") do not end a number: "06 12 34, euh, 56 78" is one phone, "4194 8757, eh, 4911
8629" one card, "W, quatre cent douze, trois cent quatre" one CIN after "CIN".

Overlaps are settled by length: the longer span wins (a 24-digit RIB is never also a card, an
IBAN is never also a RIB), then by the order of KINDS. Pure Python, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

__all__ = ["KINDS", "PLACEHOLDERS", "Entity", "find_entities", "redact"]

KINDS: tuple[str, ...] = ("card", "iban", "rib", "cin", "phone", "email", "birth_date")
PLACEHOLDERS = {
    "card": "[CARD]",
    "iban": "[IBAN]",
    "rib": "[RIB]",
    "cin": "[CIN]",
    "phone": "[PHONE]",
    "email": "[EMAIL]",
    "birth_date": "[BIRTH_DATE]",
}
LANGUAGES = ("fr", "ar", "es", "en", "pt")


@dataclass(frozen=True)
class Entity:
    """One piece of personal data: its kind and its span in the input text (end exclusive)."""

    type: str
    start: int
    end: int


# --------------------------------------------------------------------------- lexicons

# Number words: word -> (value, class). Classes: "zero", "unit" (1-9), "teen" (a complete
# two-digit value that nothing but a hundred/thousand precedes: 10-19, "veintiuno"...),
# "tens" (20, 30 ... 90: a unit may follow), "hundred" (a multiplier), "hundreds" (200,
# "doscientos"...), "thousand".
def _lex(pairs: str, cls: str) -> dict[str, tuple[int, str]]:
    out = {}
    for item in pairs.split():
        word, value = item.split("=")
        out[word] = (int(value), cls)
    return out


_NUM = {
    "fr": {
        **_lex("zéro=0 zero=0", "zero"),
        **_lex("un=1 une=1 deux=2 trois=3 quatre=4 cinq=5 six=6 sept=7 huit=8 neuf=9", "unit"),
        **_lex("dix=10 onze=11 douze=12 treize=13 quatorze=14 quinze=15 seize=16", "teen"),
        **_lex("vingt=20 vingts=20 trente=30 quarante=40 cinquante=50 soixante=60 septante=70 "
               "huitante=80 octante=80 nonante=90", "tens"),
        **_lex("cent=100 cents=100", "hundred"),
        **_lex("mille=1000 mil=1000", "thousand"),
        **_lex("premier=1 première=1 1er=1", "unit"),
    },
    "en": {
        **_lex("zero=0 oh=0 o=0", "zero"),
        **_lex("one=1 two=2 three=3 four=4 five=5 six=6 seven=7 eight=8 nine=9", "unit"),
        **_lex("ten=10 eleven=11 twelve=12 thirteen=13 fourteen=14 fifteen=15 sixteen=16 "
               "seventeen=17 eighteen=18 nineteen=19", "teen"),
        **_lex("twenty=20 thirty=30 forty=40 fourty=40 fifty=50 sixty=60 seventy=70 eighty=80 "
               "ninety=90", "tens"),
        **_lex("hundred=100", "hundred"),
        **_lex("thousand=1000", "thousand"),
        **_lex("first=1 second=2 third=3 fourth=4 fifth=5 sixth=6 seventh=7 eighth=8 ninth=9",
               "unit"),
        **_lex("tenth=10 eleventh=11 twelfth=12 thirteenth=13 fourteenth=14 fifteenth=15 "
               "sixteenth=16 seventeenth=17 eighteenth=18 nineteenth=19", "teen"),
        **_lex("twentieth=20 thirtieth=30", "teen"),
    },
    "es": {
        **_lex("cero=0", "zero"),
        **_lex("un=1 uno=1 una=1 dos=2 tres=3 cuatro=4 cinco=5 seis=6 siete=7 ocho=8 nueve=9 "
               "primero=1", "unit"),
        **_lex("diez=10 once=11 doce=12 trece=13 catorce=14 quince=15 dieciséis=16 dieciseis=16 "
               "diecisiete=17 dieciocho=18 diecinueve=19 veintiuno=21 veintiún=21 veintidós=22 "
               "veintidos=22 veintitrés=23 veintitres=23 veinticuatro=24 veinticinco=25 "
               "veintiséis=26 veintiseis=26 veintisiete=27 veintiocho=28 veintinueve=29", "teen"),
        **_lex("veinte=20 treinta=30 cuarenta=40 cincuenta=50 sesenta=60 setenta=70 ochenta=80 "
               "noventa=90", "tens"),
        **_lex("cien=100 ciento=100", "hundred"),
        **_lex("doscientos=200 trescientos=300 cuatrocientos=400 quinientos=500 seiscientos=600 "
               "setecientos=700 ochocientos=800 novecientos=900", "hundreds"),
        **_lex("mil=1000", "thousand"),
    },
    "pt": {
        **_lex("zero=0", "zero"),
        **_lex("um=1 uma=1 dois=2 duas=2 três=3 tres=3 quatro=4 cinco=5 seis=6 sete=7 oito=8 "
               "nove=9 primeiro=1", "unit"),
        **_lex("dez=10 onze=11 doze=12 treze=13 catorze=14 quatorze=14 quinze=15 dezesseis=16 "
               "dezasseis=16 dezessete=17 dezassete=17 dezoito=18 dezenove=19 dezanove=19", "teen"),
        **_lex("vinte=20 trinta=30 quarenta=40 cinquenta=50 sessenta=60 setenta=70 oitenta=80 "
               "noventa=90", "tens"),
        **_lex("cem=100 cento=100", "hundred"),
        **_lex("duzentos=200 trezentos=300 quatrocentos=400 quinhentos=500 seiscentos=600 "
               "setecentos=700 oitocentos=800 novecentos=900", "hundreds"),
        **_lex("mil=1000", "thousand"),
    },
    "ar": {  # MSA and Darija spellings
        **_lex("صفر=0 زيرو=0", "zero"),
        **_lex("واحد=1 واحدة=1 اثنان=2 اثنين=2 إثنين=2 إثنان=2 جوج=2 زوج=2 ثلاثة=3 ثلاث=3 "
               "تلاتة=3 تلاثة=3 أربعة=4 اربعة=4 أربع=4 ربعة=4 خمسة=5 خمس=5 ستة=6 ست=6 سبعة=7 "
               "سبع=7 ثمانية=8 ثمان=8 تمنية=8 ثمنية=8 تسعة=9 تسع=9", "unit"),
        **_lex("عشرة=10 عشر=10 حداش=11 حضاش=11 طناش=12 تلطاش=13 ربعطاش=14 خمسطاش=15 سطاش=16 "
               "سبعطاش=17 تمنطاش=18 تسعطاش=19", "teen"),
        **_lex("عشرين=20 عشرون=20 ثلاثين=30 ثلاثون=30 تلاتين=30 أربعين=40 اربعين=40 ربعين=40 "
               "خمسين=50 خمسون=50 ستين=60 ستون=60 سبعين=70 سبعون=70 ثمانين=80 تمانين=80 "
               "ثمانون=80 تسعين=90 تسعون=90", "tens"),
        **_lex("مية=100 مائة=100 مئة=100 مياة=100", "hundred"),
        **_lex("ميتين=200 مئتين=200 مائتين=200 تلتمية=300 ثلاثمائة=300 ثلاثمية=300 ربعمية=400 "
               "أربعمائة=400 اربعمائة=400 خمسمية=500 خمسمائة=500 ستمية=600 ستمائة=600 "
               "سبعمية=700 سبعمائة=700 تمنمية=800 ثمانمائة=800 تسعمية=900 تسعمائة=900", "hundreds"),
        # ordinals (dates: "الخامس من مايو"); ambiguous, never the start of a long number
        **_lex("الأول=1 الاول=1 الثاني=2 الثالث=3 الرابع=4 الخامس=5 السادس=6 السابع=7 "
               "الثامن=8 التاسع=9", "unit"),
        **_lex("العاشر=10", "teen"),
        **_lex("ألف=1000 الف=1000 آلاف=1000", "thousand"),
    },
    # French number words as Darija speakers' transcripts write them in Arabic script
    "ar_fr": {
        **_lex("زيرو=0 زيغو=0", "zero"),
        **_lex("اون=1 أون=1 آن=1 دو=2 دوه=2 تروا=3 كاتر=4 كاتغ=4 سانك=5 سيس=6 سيت=7 ويت=8 "
               "نوف=9", "unit"),
        **_lex("ديس=10 اونز=11 أونز=11 دوز=12 تريز=13 كاتورز=14 كانز=15 سيز=16", "teen"),
        **_lex("فان=20 ترانت=30 كارانت=40 سانكانت=50 سواسانت=60", "tens"),
    },
}
# Words that are numbers only sometimes (articles, "oh", "first"...): kept in the stream as
# numbers but never allowed to start a run that must be read as a whole.
_AMBIGUOUS = {"un", "une", "uno", "una", "um", "uma", "oh", "o", "one", "واحد", "واحدة",
              "second", "premier", "première", "first", "primero", "primeiro", "mil", "six",
              "الأول", "الاول", "الثاني", "الثالث", "الرابع", "الخامس", "السادس", "السابع",
              "الثامن", "التاسع", "العاشر", "اون", "أون", "آن", "دو", "دوه"}
_AMBIGUOUS.discard("six")
_JOIN = {"et", "and", "y", "e", "و"}
_PLUS_WORDS = {"plus", "más", "mas", "mais", "زائد", "زايد"}
# Languages whose number words each transcript language may use (Darija speakers mix French).
_LANG_NUMS = {"fr": ("fr",), "en": ("en",), "es": ("es",), "pt": ("pt",), "ar": ("ar", "fr", "ar_fr")}


def _number_lexicon(langs: tuple[str, ...]) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    for lang in reversed(langs):
        out.update(_NUM[lang])
    return out


_LEXICONS = {lang: _number_lexicon(langs) for lang, langs in _LANG_NUMS.items()}
_LEXICONS[None] = _number_lexicon(("en", "es", "pt", "ar", "fr", "ar_fr"))

_MONTHS = {}
for _i, _names in enumerate((
    "janvier january enero janeiro jan يناير جانفي janv",
    "février fevrier february febrero fevereiro feb فبراير فبراير fév",
    "mars march marzo março marco mar مارس",
    "avril april abril apr أبريل ابريل أفريل",
    "mai may mayo maio ماي مايو",
    "juin june junio junho jun يونيو يونيه جوان",
    "juillet july julio julho jul يوليوز يوليو جويلية",
    "août aout august agosto aug غشت أغسطس اغسطس",
    "septembre september septiembre setiembre setembro sept sep شتنبر سبتمبر",
    "octobre october octubre outubro oct أكتوبر اكتوبر",
    "novembre november noviembre novembro nov نونبر نوفمبر",
    "décembre decembre december diciembre dezembro dec déc دجنبر ديسمبر",
), start=1):
    for _name in _names.split():
        _MONTHS[_name] = _i

# Spelled letters: "B comme Bernard" (any case for the letter), French/Spanish/Arabic letter
# names ("bé", "ka", "بي") -- the names are only trusted after an ID-card phrase.
_SPELL_LINKS = {"comme", "como", "as", "like", "for", "de", "ديال", "بحال", "كيف"}
_LETTER_NAMES = {
    "bé": "B", "be": "B", "cé": "C", "ce": "C", "dé": "D", "èf": "F", "effe": "F", "gé": "G",
    "ache": "H", "hache": "H", "ji": "J", "jota": "J", "ka": "K", "èl": "L", "ele": "L",
    "èm": "M", "eme": "M", "èn": "N", "ene": "N", "pé": "P", "pe": "P", "ku": "Q", "cu": "Q",
    "èr": "R", "erre": "R", "èss": "S", "esse": "S", "té": "T", "vé": "V", "uve": "V",
    "ix": "X", "equis": "X", "igrec": "Y", "zèd": "Z", "zeta": "Z",
    "بي": "B", "كا": "K", "سي": "C", "دي": "D", "جي": "J", "إف": "F", "اف": "F", "إل": "L",
    "ال": "L", "إم": "M", "ام": "M", "إن": "N", "تي": "T", "إكس": "X", "زيد": "Z", "أ": "A",
    "ا": "A", "إي": "E", "اش": "H", "إش": "H", "إس": "S", "ار": "R", "إر": "R", "في": "V",
}
# Single lowercase letters that are ordinary words.
_WORD_LETTERS = {"a", "à", "e", "é", "o", "y", "i", "u", "l", "d", "s", "c", "n", "t", "m", "j", "ó"}

# Hesitations and self-corrections a speaker drops inside a number or between a phrase and its
# value ("zéro six euh douze", "4194 8757, eh, 4911 8629"): they do not end a number. The
# correction words also let a number restart ("douze, non pardon, zéro six treize ...").
_CORRECTIONS = {"non", "pardon", "sorry", "no", "não", "nao", "perdón", "perdon", "perdão",
                "desculpe", "disculpe", "لا", "سمح", "سمحلي", "سمحيلي", "سمحي", "smeh", "smehli"}
_FILLERS = _CORRECTIONS | {
    "euh", "euhh", "heu", "eh", "ehh", "uh", "uhh", "um", "umm", "hum", "humm", "hmm", "mmm",
    "ah", "bon", "ben", "alors", "donc", "attendez", "attends", "wait", "espera", "espere",
    "espérate", "pues", "bueno", "tipo", "pronto", "yaani", "ya3ni", "yani", "wakha", "waha",
    "يعني", "واخا", "اه", "آه", "إيه", "ايه", "أه", "ليا", "hein", "quoi", "like", "okay", "ok",
    "vale", "oui", "yes", "sí", "si", "sim", "wah", "واه", "إوا", "ايوا", "أيوا",
}
_CURRENCY = {"dirhams", "dirham", "dh", "dhs", "mad", "درهم", "دراهم", "euros", "euro", "eur", "€",
             "dollars", "dollar", "$", "pounds", "£", "dólares", "reais", "francs", "ريال", "centimes"}
_DOT_WORDS = {"point", "dot", "punto", "ponto", "نقطة", "بوان", "."}
_LOCAL_SEPS = _DOT_WORDS | {"tiret", "underscore", "dash", "hyphen", "guion", "guión", "hífen",
                            "hifen", "traço", "traco", "تيري", "أندرسكور", "اندرسكور", "-", "_"}
_AT_WORDS = {"arobase", "arobas", "at", "arroba", "آت", "أت", "ات", "@"}
_TLDS = {"com", "net", "org", "fr", "ma", "es", "pt", "be", "ca", "uk", "de", "io", "co", "eu",
         "info", "edu", "gov", "br", "ch", "us", "it", "nl", "كوم", "نت"}
_LOCAL_STOP = {"is", "it's", "its", "es", "est", "é", "c'est", "email", "mail", "e-mail",
               "correo", "adresse", "address", "me", "to", "a", "à", "sur", "ليا", "هو", "هي",
               "ديالي", "look", "him", "her", "them", "us", "you", "arrive", "para", "en", "em"}

_CIN_CONTEXT = re.compile(
    r"\bcin\b|carte\s+(?:nationale|d['’ ]?\s*identit)|pi[èe]ce\s+d['’ ]?\s*identit|identi(?:t[éy]|dad|dade)|"
    r"\bid\b|\bdni\b|carn[eé]t|documento\s+de\s+identidad|c[ée]dula|tarjeta\s+(?:nacional|de\s+identidad)|"
    r"cart[ãa]o\s+(?:de\s+identidade|de\s+cidad[ãa]o|nacional)|bilhete\s+de\s+identidade|"
    r"لاكارط|الكارط|البطاقة\s+الوطنية|بطاقة\s+التعريف|رقم\s+البطاقة|البطاقة|ناسيونال",
    re.IGNORECASE,
)
_PRODUCT_CONTEXT = re.compile(
    r"\b(?:r[ée]f|r[ée]f[ée]rence|referencia|refer[êe]ncia|code|c[óo]digo|sku|produit|product|"
    r"producto|produto|mod[èe]le|model|modelo|commande|order|pedido|encomenda|colis|ticket|"
    r"facture|invoice|serial|s[ée]rie|sn|vol|flight|vuelo|voo|contrat|contract|contrato|dossier|"
    r"suivi|tracking|parcel|package|env[íi]o|remessa|fatura|factura|incidencia|incid[êe]ncia|"
    r"r[ée]clamation|claim|reclamaci[óo]n|reclama[çc][ãa]o|multibanco|entidade|expediente|"
    r"processo|case)\b|"
    r"(?:الكود|كود|المنتوج|منتوج|الكوموند|كوموند|الفاتورة|فاتورة|العقد|الطلبية|طلبية|الكولي|"
    r"كولي|التيكيت|تيكيت|الدوسي|دوسي|المرجع|الريفيرونس|رقم\s+الطلب)",
    re.IGNORECASE,
)
_BIRTH = re.compile(
    r"\bn[ée]e?s?\b|\bdate\s+de\s+naissance\b|\bborn\b|\bdate\s+of\s+birth\b|\bbirth\s*date\b|"
    r"\bbirthday\b|\bd\.?o\.?b\b|\bnac[ií]d[oa]s?\b|\bnac[ií]\b|\bfecha\s+de\s+nacimiento\b|"
    r"\bnascid[oa]s?\b|\bnasci\b|\bdata\s+de\s+nascimento\b|"
    r"تاريخ\s+(?:ال)?(?:ازدياد|إزدياد|ميلاد|ولادة)|مزداد[ةه]?|مزيود[ةه]?|تزاديت|تولدت|ولدت|"
    r"من\s+مواليد",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

_TOKEN = re.compile(r"[^\W_]+|[^\w\s]|_")
_ALNUM = re.compile(r"([A-Za-z]{1,2})(\d+)$|(\d+)(?:th|st|nd|rd|er|re|ère|ème|e|º|ª|o|a)$", re.IGNORECASE)
_DIGIT_MAP = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")

# IBAN lengths (ISO 13616 registry) for the countries callers mention most.
_IBAN_LENGTHS = {
    "MA": 28, "FR": 27, "ES": 24, "PT": 25, "DE": 22, "BE": 16, "IT": 27, "NL": 18, "GB": 22,
    "CH": 21, "LU": 20, "AT": 20, "IE": 22, "SA": 24, "AE": 23, "TN": 24, "DZ": 26, "EG": 29,
    "QA": 29, "TR": 26, "SE": 24, "NO": 15, "DK": 18, "FI": 18, "PL": 28, "MC": 27, "MR": 27,
    "SN": 28, "CI": 28, "GR": 27, "RO": 24, "CZ": 24, "HU": 28, "LB": 28, "JO": 30, "KW": 30,
}
_SEPARATORS = {"-", ".", "/", ",", "،", "(", ")", ":", "…"}

# --------------------------------------------------------------------------- checksums


def _luhn(d: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(d)):
        n = ord(ch) - 48
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _iban_ok(code: str) -> bool:
    rearranged = code[4:] + code[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _rib_ok(d: str) -> bool:
    # Moroccan RIB key (Bank Al-Maghrib): key = 97 - ((bank + town + account) * 100 mod 97),
    # "+" being concatenation of the 3+3+16 digits. We validate exactly that; it is the same
    # rule that makes MA + check digits + RIB a valid IBAN.
    key = 97 - (int(d[:22]) * 100) % 97
    return key == int(d[22:])


# --------------------------------------------------------------------------- units

_NUM_U, _LET_U, _PLUS_U, _PUNCT_U, _WORD_U, _FILL_U = range(6)


class _Unit:
    __slots__ = ("kind", "start", "end", "text", "digits", "value", "ambiguous", "words",
                 "weak", "compact")

    def __init__(self, kind, start, end, text="", digits="", value=0, ambiguous=False,
                 words=False, weak=False, compact=False):
        self.kind = kind
        self.start = start
        self.end = end
        self.text = text  # lowercased surface (words, punct) or the upper-case letters
        self.digits = digits
        self.value = value
        self.ambiguous = ambiguous
        self.words = words
        self.weak = weak  # letters: a spelled name or lowercase letter, trusted only in context
        self.compact = compact  # letters glued to the digits that follow ("BK123456")

    def __repr__(self):  # pragma: no cover - debugging aid
        return f"<{self.kind} {self.text or self.digits!r} {self.start}:{self.end}>"


def _combine(state, value, cls, joined):
    """Try to add a number word to the number being read; the new state, or None to break."""
    total, small, last = state
    if cls == "zero" or last == "zero":
        return None
    if cls == "unit":
        if last == "tens" and small % 10 == 0:
            return total, small + value, "unit"
        if last in ("hundred", "hundreds") and small % 100 == 0:
            return total, small + value, "unit"
        if last == "thousand" and small == 0:
            return total, value, "unit"
        return None
    if cls == "teen":
        if last in ("hundred", "hundreds") and small % 100 == 0:
            return total, small + value, "teen"
        if last == "thousand" and small == 0:
            return total, value, "teen"
        if last == "tens" and small % 100 in (60, 80) and value < 20 and not joined:
            # soixante-douze; soixante-dix / quatre-vingt-dix take a unit after ("-huit")
            return total, small + value, "tens" if value == 10 else "teen"
        if last == "tens" and small % 100 == 60 and value == 11 and joined:
            return total, small + value, "teen"  # soixante et onze
        return None
    if cls == "tens":
        if last in ("hundred", "hundreds") and small % 100 == 0:
            return total, small + value, "tens"
        if last == "thousand" and small == 0:
            return total, value, "tens"
        if last == "unit" and value == 20 and small % 10 == 4 and not joined:
            return total, small - 4 + 80, "tens"  # quatre-vingt(s)
        if last == "unit" and joined == "و" and small % 100 < 10:
            return total, small + value, "teen"  # ستة وثلاثين = 36 (unit first)
        return None
    if cls == "hundred":
        if joined:
            return None
        if last in ("unit", "teen") and 0 < small % 100 < 100 and small < 100:
            return total, small * 100, "hundred"
        if last == "thousand" and small == 0:
            return total, 100, "hundred"
        return None
    if cls == "hundreds":
        if last == "thousand" and small == 0:
            return total, value, "hundreds"
        return None
    if cls == "thousand":
        if joined or total:
            return None
        return (small or 1) * 1000, 0, "thousand"
    return None


def _tokens(text: str):
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text.translate(_DIGIT_MAP))]


def _units(text: str, language: str | None) -> list[_Unit]:
    lexicon = _LEXICONS.get(language, _LEXICONS[None])
    toks = _tokens(text)
    units: list[_Unit] = []
    n = len(toks)
    i = 0

    def lookup(word):
        entry = lexicon.get(word)
        if entry is None and len(word) > 2 and word[0] == "و" and word[1:] in lexicon:
            return lexicon[word[1:]], "و"
        return entry, None

    while i < n:
        s, e, tok = toks[i]
        low = tok.lower()
        if tok.isdigit():
            units.append(_Unit(_NUM_U, s, e, digits=tok, value=int(tok)))
            i += 1
            continue
        entry, prefix_join = lookup(low)
        if entry is not None and prefix_join is None:
            # a phrase of number words read as one number
            value, cls = entry
            state = (value, 0, cls) if cls == "thousand" else (0, value, cls)
            first_amb = low in _AMBIGUOUS
            end = e
            j = i + 1
            while j < n:
                s2, e2, t2 = toks[j]
                l2 = t2.lower()
                joined = None
                k = j
                if l2 == "-" and s2 == end and j + 1 < n and toks[j + 1][0] == e2:
                    k = j + 1
                elif l2 in _JOIN and j + 1 < n:
                    joined = l2
                    k = j + 1
                w = toks[k][2].lower()
                entry2, pj = lookup(w)
                if entry2 is None:
                    break
                if pj:
                    joined = pj
                new = _combine(state, entry2[0], entry2[1], joined)
                if new is None:
                    break
                state = new
                end = toks[k][1]
                j = k + 1
            total, small, last = state
            number = total + small
            digits = "0" if last == "zero" else str(number)
            units.append(_Unit(_NUM_U, s, end, text=low, digits=digits, value=number,
                               ambiguous=first_amb and j == i + 1, words=True))
            i = j
            continue
        if entry is not None and prefix_join == "و":
            # "وثلاثين" after a unit read alone: treat as a separate number
            value, cls = entry
            units.append(_Unit(_NUM_U, s, e, text=low, digits=str(value), value=value, words=True))
            i += 1
            continue
        m = _ALNUM.match(tok) if not tok.isalpha() else None
        if m:
            if m.group(1):
                split = s + len(m.group(1))
                units.append(_Unit(_LET_U, s, split, text=m.group(1).upper(),
                                   weak=not m.group(1).isupper(), compact=True))
                units.append(_Unit(_NUM_U, split, e, digits=m.group(2), value=int(m.group(2))))
            else:
                units.append(_Unit(_NUM_U, s, e, text=low, digits=m.group(3),
                                   value=int(m.group(3)), ambiguous=True))
            i += 1
            continue
        if tok == "+" or low in _PLUS_WORDS:
            units.append(_Unit(_PLUS_U, s, e, text=low))
            i += 1
            continue
        if len(tok) == 1 and not tok.isalnum():
            units.append(_Unit(_PUNCT_U, s, e, text=tok))
            i += 1
            continue
        # spelled letter: "B comme Bernard", "B as in Bravo"
        if len(tok) == 1 and tok.isalpha() and tok.isascii():
            j = i + 1
            end = e
            if j + 1 < n and toks[j][2].lower() in _SPELL_LINKS and toks[j + 1][2][:1].upper() == tok.upper() \
                    and toks[j + 1][2][:1].isupper():
                end = toks[j + 1][1]
                j += 2
            elif j + 2 < n and toks[j][2].lower() == "as" and toks[j + 1][2].lower() == "in" \
                    and toks[j + 2][2][:1].upper() == tok.upper():
                end = toks[j + 2][1]
                j += 3
            if end != e:
                units.append(_Unit(_LET_U, s, end, text=tok.upper(), weak=False))
                i = j
                continue
            weak = not tok.isupper()
            if weak and low in _WORD_LETTERS:
                units.append(_Unit(_WORD_U, s, e, text=low))
            else:
                units.append(_Unit(_LET_U, s, e, text=tok.upper(), weak=weak))
            i += 1
            continue
        if 2 <= len(tok) <= 4 and tok.isupper() and tok.isascii():
            units.append(_Unit(_LET_U, s, e, text=tok, weak=False))
            i += 1
            continue
        if low in _LETTER_NAMES:
            units.append(_Unit(_LET_U, s, e, text=_LETTER_NAMES[low], weak=True))
            i += 1
            continue
        units.append(_Unit(_FILL_U if low in _FILLERS else _WORD_U, s, e, text=low))
        i += 1
    return units


def _runs(units: list[_Unit]):
    """Maximal runs of number groups (an optional leading "+"), separators allowed between;
    commas are kept in the run (a card may end where a comma starts the expiry date)."""
    runs = []
    cur: list[_Unit] = []
    for u in units:
        if u.kind == _NUM_U:
            cur.append(u)
        elif u.kind == _PLUS_U:
            if cur:
                runs.append(cur)
            cur = [u]
        elif u.kind == _PUNCT_U and u.text in _SEPARATORS:
            if u.text in ",،…" and cur:
                cur.append(u)
        elif u.kind == _FILL_U:
            if cur:
                cur.append(u)
        else:
            if cur:
                runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return [r for r in runs if any(u.kind == _NUM_U for u in r)]


# --------------------------------------------------------------------------- detectors

# National and international formats accepted wherever the number is not an order/product
# number: Morocco (0[5-7] + 8), France (0[1-79] + 8), UK mobiles (07 + 9), +212 / 00212, any
# "+" / "00" number of 8-15 digits.
_PHONE_PATTERNS = (
    re.compile(r"0[1-79]\d{8}"),
    re.compile(r"07\d{9}"),
    re.compile(r"(?:\+|00)2120?[5-7]\d{8}"),
    re.compile(r"\+[1-9]\d{7,14}"),
    re.compile(r"00[1-9]\d{7,13}"),
)
# Spanish / Portuguese national numbers have no leading 0 ("612 34 56 78", "912 345 678"):
# 9 digits that an order or a reference number could have, so only after a phone word.
_PHONE_BARE = re.compile(r"[6-9]\d{8}|2120?[5-7]\d{8}|33[1-79]\d{8}|34[6-9]\d{8}|351[29]\d{8}|"
                         r"447\d{9}")  # ... and the same with the country code but no "+"
_PHONE_CONTEXT = re.compile(
    r"t[ée]l[ée]phone|\bt[ée]l\b|portable|\bfixe\b|joindre|rappel|appel|\bnum[ée]ro\b|"
    r"phone|mobile|\bcell|\bcall\b|\breach\b|\bnumber\b|"
    r"tel[ée]fono|m[óo]vil|llam|\bcontacto?\b|telem[óo]vel|telefone|ligue|ligar|"
    r"n[úu]mero|whatsapp|"
    r"النمرة|نمرة|الهاتف|الهاتف|التيليفون|تيليفون|عيط|الواتساب",
    re.IGNORECASE,
)


def _whole_spans(run):
    """The spans a checksum-only number (card, RIB) may take in a run: the whole run, the run
    without an ambiguous word at either end, and the pieces between commas."""
    nums = [u for u in run if u.kind == _NUM_U]
    spans = [nums]
    if len(nums) > 1 and nums[0].ambiguous:
        spans.append(nums[1:])
    if len(nums) > 1 and nums[-1].ambiguous:
        spans.append(nums[:-1])
    if len(nums) < len(run):
        piece: list[_Unit] = []
        for u in run + [None]:
            if u is None or u.kind in (_PUNCT_U, _FILL_U):
                if piece and len(piece) < len(nums):
                    spans.append(piece)
                piece = []
            elif u.kind == _NUM_U:
                piece.append(u)
    return spans


def _context(text):
    """Positions of phone words and of order/product words, for the context checks."""
    products = [m.end() for m in _PRODUCT_CONTEXT.finditer(text)]
    # "numéro" right after "commande" ("el pedido número ...") names the order, not a phone
    phones = [m.end() for m in _PHONE_CONTEXT.finditer(text)
              if not any(m.start() - 12 <= q <= m.start() for q in products)]
    return phones, products


def _nearest(positions, start, reach):
    return max((p for p in positions if start - reach <= p <= start), default=-1)


def _phone_match(seq, i, ctx):
    """Index in seq of the last group of the longest phone number starting at seq[i], or None.
    National numbers right after an order / product word (closer than any phone word) are not
    phones; bare 9-digit numbers need a phone word near them."""
    u = seq[i]
    if u.kind == _NUM_U and u.ambiguous and u.digits != "0":
        return None
    if u.kind not in (_NUM_U, _PLUS_U):
        return None
    phones = products = None  # the context is read only once a number is long enough
    phone_before = product_before = -1
    digits = "+" if u.kind == _PLUS_U else ""
    best = None
    for j in range(i + (u.kind == _PLUS_U), len(seq)):
        v = seq[j]
        if v.kind in (_PUNCT_U, _FILL_U):
            continue
        if v.kind != _NUM_U:
            break
        digits += v.digits
        if len(digits) > 16:
            break
        if len(digits) < 9:  # no format is shorter
            continue
        if phones is None:
            phones, products = ctx()
            phone_before = _nearest(phones, u.start, 60)
            product_before = _nearest(products, u.start, 40)
            blocked = product_before > phone_before
        if digits[0] in "+" or digits.startswith("00"):
            if u.ambiguous and digits.startswith("00"):
                continue
            if any(p.fullmatch(digits) for p in _PHONE_PATTERNS[2:]):
                best = j
        elif blocked:
            continue
        elif any(p.fullmatch(digits) for p in _PHONE_PATTERNS[:2]):
            best = j
        elif _PHONE_BARE.fullmatch(digits) and (
                phone_before >= 0 or any(v.end < p <= v.end + 50 for p in phones)):
            best = j
    return best


def _find_numbers(units, want, text):
    found = []
    memo = []

    def ctx():
        if not memo:
            memo.append(_context(text))
        return memo[0]

    for run in _runs(units):
        if "card" in want or "rib" in want:
            for span in _whole_spans(run):
                digits = "".join(u.digits for u in span)
                if "rib" in want and len(digits) == 24 and _rib_ok(digits):
                    found.append(("rib", span[0].start, span[-1].end))
                elif "card" in want and 13 <= len(digits) <= 19 and _luhn(digits) and digits[0] != "0":
                    found.append(("card", span[0].start, span[-1].end))
        if "phone" in want:
            i = 0
            while i < len(run):
                best = _phone_match(run, i, ctx)
                corr = next((c for c in range(i + 1, min(len(run), i + 12)) if run[c].kind == _FILL_U
                             and run[c].text in _CORRECTIONS), None)
                if corr is not None and (best is None or best > corr) and run[i].kind == _NUM_U:
                    # a self-correction: the number restarts after "non pardon", or its last
                    # group before the correction is replaced
                    after = next((c for c in range(corr + 1, min(len(run), corr + 4))
                                  if run[c].kind == _NUM_U), None)
                    before = [c for c in range(i, corr) if run[c].kind == _NUM_U]
                    if after is not None:
                        b2 = _phone_match(run, after, ctx)
                        if b2 is None:
                            idx = before[:-1] + list(range(after, min(len(run), after + 24)))
                            b3 = _phone_match([run[c] for c in idx], 0, ctx) if idx else None
                            b2 = None if b3 is None else idx[b3]
                        if b2 is not None and run[b2].kind == _NUM_U:
                            found.append(("phone", run[i].start, run[b2].end))
                            i = b2 + 1
                            continue
                if best is not None and run[best].kind == _NUM_U and (
                        i == 0 or not run[i].digits.startswith("00")):
                    # an international "00..." number starts its run: never read one out of
                    # the middle of a longer number (an invalid IBAN, a serial number)
                    found.append(("phone", run[i].start, run[best].end))
                    i = best + 1
                else:
                    i += 1
    return found


def _letters_at(units, i):
    """Up to two letters starting at units[i]: (letters, index after, all strong)."""
    letters = ""
    strong = True
    j = i
    while j < len(units) and len(letters) < 2:
        u = units[j]
        if u.kind == _LET_U and len(letters) + len(u.text) <= 2:
            letters += u.text
            strong = strong and not u.weak
            j += 1
            while j < len(units) and (units[j].kind == _PUNCT_U and units[j].text in ".-,،"
                                       or units[j].kind == _FILL_U):
                j += 1
            if u.compact:
                break
            continue
        break
    return letters, j, strong


def _find_iban(units):
    found = []
    n = len(units)
    for i, u in enumerate(units):
        if u.kind != _LET_U or u.weak:
            continue
        cc, j, strong = _letters_at(units, i)
        if len(cc) != 2 or cc not in _IBAN_LENGTHS or not strong:
            continue
        want = _IBAN_LENGTHS[cc]
        code = cc
        end = None
        while j < n and len(code) < want:
            v = units[j]
            if v.kind == _NUM_U:
                code += v.digits
            elif v.kind == _LET_U and not v.weak and len(code) >= 4:
                code += v.text
            elif v.kind == _PUNCT_U and v.text in "-.":
                j += 1
                continue
            else:
                break
            end = v.end
            j += 1
        if len(code) == want and code[2:4].isdigit() and _iban_ok(code):
            found.append(("iban", u.start, end))
    return found


def _find_cin(units, text):
    found = []
    contexts = [m.end() for m in _CIN_CONTEXT.finditer(text)]
    products = [m.end() for m in _PRODUCT_CONTEXT.finditer(text)]
    n = len(units)
    i = 0
    while i < n:
        u = units[i]
        if u.kind != _LET_U:
            i += 1
            continue
        letters, j, strong = _letters_at(units, i)
        if not letters:
            i += 1
            continue
        digits = ""
        k = j
        end = None
        groups = 0
        while k < n and units[k].kind == _NUM_U and len(digits) + len(units[k].digits) <= 6:
            if units[k].value == 0 and units[k].words and not digits:
                break
            digits += units[k].digits
            end = units[k].end
            groups += 1
            k += 1
            # groups read with a pause: "quatre cent douze, trois cent quatre"
            g = k
            while g < n and (units[g].kind == _PUNCT_U and units[g].text in ",،-"
                             or units[g].kind == _FILL_U):
                g += 1
            if g > k and g < n and units[g].kind == _NUM_U \
                    and len(digits) + len(units[g].digits) <= 6 and len(digits) < 5:
                k = g
        if not digits or (k < n and units[k].kind == _NUM_U):
            i += 1
            continue
        start = u.start
        # the ID-card phrase may come before ("CIN BK123456") or just after ("... pour la
        # carte nationale")
        in_context = any(start - 90 <= c <= start for c in contexts) or any(
            end < c <= end + 40 for c in contexts)
        product = any(start - 40 <= p <= start for p in products)
        if k < n and units[k].text in _CURRENCY:  # "le plan B 45000 dirhams": an amount
            i += 1
            continue
        paused = any(units[x].kind == _FILL_U or units[x].text in ",،" for x in range(i, j))
        shape = strong and groups == 1 and 5 <= len(digits) <= 6 and not units[j].words \
            and (u.compact or len(letters) <= 2) and not paused
        if (in_context and not product) or (shape and not product):
            found.append(("cin", start, end))
            i = k
            continue
        i += 1
    return found


def _local_token(u):
    return u.kind in (_WORD_U, _NUM_U, _LET_U) and u.text not in _LOCAL_STOP \
        and u.text not in _AT_WORDS


def _local_sep_back(units, x):
    """Index of the first unit of a separator word ("point", "tiret du bas", "guion bajo")
    ending at units[x], or None."""
    if x < 0:
        return None
    t = units[x].text
    if t in ("bas", "bajo", "baixo", "score") and x >= 1:
        if units[x - 1].text in ("tiret", "guion", "guión", "traço", "under"):
            return x - 1
        if t == "bas" and x >= 2 and units[x - 1].text == "du" and units[x - 2].text == "tiret":
            return x - 2
    if t in _LOCAL_SEPS:
        return x
    return None


def _find_emails(units, text):
    found = [("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    n = len(units)
    for i, u in enumerate(units):
        if u.text not in _AT_WORDS or u.kind not in (_WORD_U, _PUNCT_U, _LET_U):
            continue
        if u.kind == _LET_U and u.text != "AT":
            continue
        # domain: word (dot word)+ ending in a TLD
        j = i + 1
        last_ok = None
        while j + 2 < n + 1 and j < n and units[j].kind in (_WORD_U, _NUM_U, _LET_U):
            if j + 1 < n and units[j + 1].text in _DOT_WORDS | {"-", "tiret"} and j + 2 < n:
                if units[j + 2].kind in (_WORD_U, _LET_U) and units[j + 2].text.lower() in _TLDS \
                        and units[j + 1].text in _DOT_WORDS:
                    last_ok = j + 2
                j += 2
                continue
            break
        if last_ok is None:
            continue
        # local part: back from the "at", words linked by separators
        k = i - 1
        if k < 0 or units[k].kind not in (_WORD_U, _NUM_U, _LET_U) or units[k].text in _LOCAL_STOP:
            continue
        first = k
        glued = 0
        while True:
            sep = _local_sep_back(units, first - 1)
            if sep is not None and sep - 1 >= 0 and _local_token(units[sep - 1]):
                first = sep - 1
                continue
            # a number said after a word ("benali 88", "laura noventa"): once per address
            if not glued and first - 1 >= 0 and _local_token(units[first - 1]) and (
                    units[first].kind == _NUM_U) != (units[first - 1].kind == _NUM_U):
                first -= 1
                glued = 1
                continue
            break
        found.append(("email", units[first].start, units[last_ok].end))
    return found


# Words allowed between a date and a birth phrase that follows it ("3-3-87, esa es mi fecha de
# nacimiento", "March 3rd 87, that's my date of birth").
_DATE_FILLERS = {"le", "la", "el", "em", "en", "in", "on", "the", "dia", "no", "o", "a", "à",
                 "est", "is", "es", "é", "c'est", "c", "'", ":", ",", "-", "of", "de", "del",
                 "do", "da", "في", "ف", "هو", "هي", "نهار", "عام", "سنة", "ديالي", "ديالو",
                 "ديالها", "ديال", "بتاريخ", "يوم", "fi", "was", "i", "am", "je", "suis", "my",
                 "mon", "ma", "mi", "meu", "minha", "dans", "year", "año", "ano", "année", "annee",
                 "that", "that's", "s", "it", "it's", "this", "esa", "esta", "ésta", "eso", "ça",
                 "ca", "voilà", "voila", "هادا", "هادي", "هاد", "هذا", "هذه", "essa", "esta", "isso",
                 "your", "votre", "su", "sua", "ta", "tu", "ton", "."}
_DATE_LINKS = {"de", "del", "of", "do", "da", "من", "/", "-", ".", ",", "،"}
# A birth phrase that names the date (it may come after it); "né", "born" come before it.
_BIRTH_NOUN = re.compile(
    r"naissance|birth|\bd\.?o\.?b\b|nacimiento|nascimento|تاريخ", re.IGNORECASE)


def _year_at(units, k, short=False):
    """A year (4 digits, 1900-2039, from one or two number groups) at units[k]: (year, next).
    With ``short``, a two-digit year ("87", "quatre-vingt-sept") after a day and a month."""
    if k >= len(units) or units[k].kind != _NUM_U:
        return None
    d = units[k].digits
    nxt = k + 1
    if len(d) == 2 and nxt < len(units) and units[nxt].kind == _NUM_U and units[nxt].words \
            and units[k].words and len(units[nxt].digits) in (1, 2):
        d = d + units[nxt].digits.zfill(2)
        nxt += 1
    if len(d) == 4 and 1900 <= int(d) <= 2039:
        return int(d), nxt
    if short and len(units[k].digits) == 2 and (nxt == k + 1) and not units[k].ambiguous:
        return int(units[k].digits), k + 1
    return None


def _skip_links(units, k, limit=2):
    while limit and k < len(units) and (units[k].text in _DATE_LINKS
                                         and units[k].kind in (_WORD_U, _PUNCT_U)):
        k += 1
        limit -= 1
    return k


def _date_at(units, k):
    """The end index (exclusive) of a date starting at units[k], or None."""
    n = len(units)
    u = units[k]
    if u.kind == _NUM_U:
        # day month year, day/month/year, year-only, ISO year-month-day
        if 1 <= u.value <= 31 and len(u.digits) <= 2:
            m = _skip_links(units, k + 1)
            if m < n and units[m].kind == _WORD_U and units[m].text in _MONTHS:
                y = _year_at(units, _skip_links(units, m + 1), short=True)
                return y[1] if y else m + 1
            # "03/03/1987", "3-3-87", "tres del tres del ochenta y siete"
            if m < n and m > k + 1 and units[m].kind == _NUM_U and 1 <= units[m].value <= 12 \
                    and (not units[m].words or units[m - 1].kind == _WORD_U):
                yk = _skip_links(units, m + 1, 1)
                if yk > m + 1 and yk < n and units[yk].kind == _NUM_U:
                    y = _year_at(units, yk, short=True)
                    if y:
                        return y[1]
        y = _year_at(units, k)
        if y:
            m = _skip_links(units, y[1], 1)
            if m > y[1] and m < n and units[m].kind == _NUM_U and 1 <= units[m].value <= 12:
                d = _skip_links(units, m + 1, 1)
                if d > m + 1 and d < n and units[d].kind == _NUM_U and 1 <= units[d].value <= 31:
                    return d + 1
            return y[1]
        return None
    if u.kind == _WORD_U and u.text in _MONTHS:
        m = k + 1
        if m < n and units[m].text == "the":
            m += 1
        if m < n and units[m].kind == _NUM_U and 1 <= units[m].value <= 31 and len(units[m].digits) <= 2:
            y = _year_at(units, _skip_links(units, m + 1), short=True)
            return y[1] if y else m + 1
        y = _year_at(units, _skip_links(units, k + 1))
        return y[1] if y else None
    return None


def _find_birth_dates(units, text):
    found = []
    n = len(units)
    for m in _BIRTH.finditer(text):
        k = 0
        while k < n and units[k].start < m.end():
            k += 1
        first = k
        steps = 0
        hit = False
        while k < n and steps < 7:
            u = units[k]
            if u.kind == _FILL_U:  # "date de naissance, euh, le 14 juillet ..."
                k += 1
                continue
            if u.kind == _PUNCT_U and (u.text in "?!;" or (u.text in ",.،" and steps > 2)):
                break
            if u.kind == _NUM_U or (u.kind == _WORD_U and u.text in _MONTHS):
                end = _date_at(units, k)
                if end is not None:
                    found.append(("birth_date", u.start, units[end - 1].end))
                    hit = True
                    break
            k += 1
            steps += 1
        if hit or not _BIRTH_NOUN.search(m.group()):
            continue
        # the date said first: "3 mars 87, c'est ma date de naissance"
        x = first - 1
        while x >= 0 and units[x].start >= m.start():
            x -= 1
        gap = 0
        while x >= 0 and gap < 5 and units[x].kind != _NUM_U and (
                units[x].kind in (_FILL_U, _PUNCT_U) or units[x].text in _DATE_FILLERS):
            x -= 1
            gap += 1
        if x < 0 or units[x].kind != _NUM_U:
            continue
        for k in range(max(0, x - 8), x + 1):
            if units[k].kind == _NUM_U or (units[k].kind == _WORD_U and units[k].text in _MONTHS):
                end = _date_at(units, k)
                if end == x + 1:
                    found.append(("birth_date", units[k].start, units[x].end))
                    break
    return found


# --------------------------------------------------------------------------- public API


def find_entities(text: str, language: str | None = None,
                  kinds: Iterable[str] = KINDS) -> list[Entity]:
    """Personal data in ``text``: sorted, non-overlapping entities with offsets into ``text``.

    ``language`` (fr/ar/es/en/pt, or None for all) chooses the number words to read; ``kinds``
    restricts what is looked for (ValueError on an unknown kind).
    """
    want = set(kinds)
    unknown = want - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kind(s): {', '.join(sorted(unknown))}; known: {', '.join(KINDS)}")
    if language is not None and language not in LANGUAGES:
        language = None
    if not want or not text:
        return []
    units = _units(text, language)
    cands: list[tuple[str, int, int]] = []
    if want & {"card", "rib", "phone"}:
        cands += _find_numbers(units, want, text)
    if "iban" in want:
        cands += _find_iban(units)
    if "cin" in want:
        cands += _find_cin(units, text)
    if "email" in want:
        cands += _find_emails(units, text)
    if "birth_date" in want:
        cands += _find_birth_dates(units, text)
    order = {k: i for i, k in enumerate(KINDS)}
    cands.sort(key=lambda c: (-(c[2] - c[1]), order[c[0]], c[1]))
    chosen: list[tuple[str, int, int]] = []
    for c in cands:
        if c[0] in want and all(c[2] <= o[1] or c[1] >= o[2] for o in chosen):
            chosen.append(c)
    chosen.sort(key=lambda c: c[1])
    return [Entity(t, s, e) for t, s, e in chosen]


def redact(text: str, language: str | None = None,
           kinds: Iterable[str] = KINDS) -> tuple[str, list[Entity]]:
    """``text`` with each entity replaced by its placeholder, and the entities (input offsets)."""
    entities = find_entities(text, language, kinds)
    parts = []
    pos = 0
    for ent in entities:
        parts.append(text[pos:ent.start])
        parts.append(PLACEHOLDERS[ent.type])
        pos = ent.end
    parts.append(text[pos:])
    return "".join(parts), entities
