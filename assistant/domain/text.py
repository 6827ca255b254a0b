"""Text helpers shared by BM25, sentence selection and the grounding checks.

One tokenizer for indexing and querying, so a term means the same thing on both sides.
Symbols such as `MC.DEC/6/17` or `2011/36/EU` stay single tokens: they are the most precise
thing a trainee can ask about.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

TOKEN_RE = re.compile(r"\w(?:[\w'’]*[./-]?)*\w|\w", re.UNICODE)

STOPWORDS = {
    "en": set(
        """a about above after again against all also am an and any are aren't as at be because been before being
        below between both but by can could did do does doing done down during each either else few for from further
        had has have having he her here hers herself him himself his how i if in into is it its itself just let me
        more most my myself no nor not now of off on once only or other our ours ourselves out over own same shall
        she should so some such than that the their theirs them themselves then there these they this those through
        to too under until up upon very was we were what when where which while who whom whose why will with would
        you your yours yourself yourselves tell explain describe say says said mean means give list please know
        according under whether many much there's what's does did kind sort way ways thing things one ones
        someone somebody anyone anybody everyone everybody something anything everything nothing nobody
        can't cannot won't don't doesn't didn't isn't aren't wasn't weren't hasn't haven't hadn't shouldn't
        wouldn't couldn't mustn't i'm i've i'd you're we're they're it's that's
        still just really actually even ever already yet maybe perhaps also anyway else
        get gets got getting""".split()
    ),
    "fr": set(
        """le la les un une des du de d l au aux et ou est sont que qui quoi quel quelle quels quelles quand comment
        pourquoi dans sur pour par avec sans ce cet cette ces son sa ses leur leurs il elle ils elles on nous vous
        je tu ne pas plus a été être fait faire y en se qu c s n m t où combien dit dire""".split()
    ),
    "de": set(
        """der die das den dem des ein eine einer eines einem einen und oder ist sind war waren wer was wie wo wann
        warum welche welcher welches im in am an auf aus bei mit nach von vor zu zum zur für über unter durch hat
        haben wird werden wurde wurden nicht kein keine es sie er ich du wir ihr man sich auch als noch nur so viele
        wieviele gibt""".split()
    ),
    "ru": set(
        """и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне было вот
        от меня еще нет о из ему теперь когда даже ну ли если уже или ни быть был него до вас нибудь опять уж вам
        ведь там потом себя ничего ей может они тут где есть надо ней для мы тебя их чем была сам чтобы без будто
        чего раз тоже себе под будет ж тогда кто этот того потому этого какой совсем ним здесь этом один почти мой
        тем чтобы нее сейчас были куда зачем всех никогда можно при наконец два об другой хоть после над больше
        тот через эти нас про всего них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше
        чуть том нельзя такой им более всегда конечно всю между каковы каков какие сколько""".split()
    ),
}
ALL_STOPWORDS = set().union(*STOPWORDS.values())

_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
)}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"}
_ORDINALS = {w: i for i, w in enumerate(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth fifteenth "
    "sixteenth seventeenth eighteenth nineteenth".split()
)}
_ORDINALS.update({w[:-1] + "ieth": n for w, n in _TENS.items()})
_NUMBER_WORD_RE = re.compile(r"[a-z]+(?:-[a-z]+)?")


def number_values(text: str) -> set[int]:
    """The whole numbers a text states, in digits ("18", "3rd") or words ("eighteen",
    "twenty-one", "fifth", "hundred")."""
    low = normalize(text)
    found = {int(d) for d in re.findall(r"(?<![\d.,])(\d{1,7})(?![\d])", low)}
    for token in _NUMBER_WORD_RE.findall(low):
        parts = token.split("-")
        if len(parts) == 2 and parts[0] in _TENS and (parts[1] in _UNITS or parts[1] in _ORDINALS):
            found.add(_TENS[parts[0]] + _UNITS.get(parts[1], _ORDINALS.get(parts[1], 0)))
            continue
        for part in parts:
            if part in _UNITS:
                found.add(_UNITS[part])
            elif part in _TENS:
                found.add(_TENS[part])
            elif part in _ORDINALS:
                found.add(_ORDINALS[part])
            elif part == "hundred":
                found.add(100)
    return found


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace("’", "'").lower()


@lru_cache(maxsize=1)
def _english_stemmer():
    import Stemmer  # PyStemmer: Snowball in C

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def stem(token: str) -> str:
    """Snowball-stem plain words; symbols, numbers and possessives are only trimmed."""
    if token.endswith("'s"):
        token = token[:-2]
    if token.isalpha() and len(token) > 3:
        return _english_stemmer().stemWord(token)
    return token


def words(text: str) -> list[str]:
    """Lower-cased word tokens, punctuation dropped, symbols kept whole."""
    return TOKEN_RE.findall(normalize(text))


def tokenize(text: str) -> list[str]:
    """Index/query tokens: words without stopwords, lightly stemmed."""
    return [stem(w) for w in words(text) if w not in ALL_STOPWORDS]


def guess_language(text: str) -> str:
    """Best-guess language code among en/fr/de/ru from stopword hits (cheap, good enough here)."""
    ws = words(text)
    if any("а" <= ch <= "я" for ch in text.lower()):
        return "ru"
    scores = {lang: sum(w in sw for w in ws) for lang, sw in STOPWORDS.items() if lang != "ru"}
    best = max(scores, key=scores.get)
    return best if scores[best] > scores["en"] else "en"


# --- sentences ----------------------------------------------------------------------------
_ABBREVIATIONS = r"(?:No|Nos|Art|Arts|para|paras|p|pp|e\.g|i\.e|etc|Dr|Mr|Mrs|Ms|St|vol|cf|approx|incl|Corr|Rev|Add|Doc|Dec|Ref|v|U\.S|U\.N)"

NUMBERING_RE = re.compile(r"^\(?(?:\d{1,3}|[ivxlc]{1,5})[.)]$|^[a-z][.)]$", re.IGNORECASE)
LEADING_NUMBER_RE = re.compile(r"^\d{1,3}\.\s+(?=\S)")
LIST_ITEM_RE = re.compile(r"^(?:[-*•▪◦]|\(?[a-z0-9]{1,3}[).])\s")


def split_sentences(text: str) -> list[str]:
    """Sentences and list items of a chunk, in order, without bare paragraph numbers.

    A block broken in the middle of a sentence (a blank line before a lower-case word) is
    joined again first, so a fragment never stands as a sentence.
    """
    blocks = [" ".join(b.split()) for b in re.split(r"\n\s*\n|\n(?=\s*(?:[-*•▪◦]|\(?[a-z0-9]{1,3}[).])\s)", text)]
    joined: list[str] = []
    for block in filter(None, blocks):
        if joined and not re.search(r"[.!?:;]$", joined[-1]) and re.match(r"[a-z]", block) and not LIST_ITEM_RE.match(block):
            joined[-1] = f"{joined[-1]} {block}"
        else:
            joined.append(block)
    pieces: list[str] = []
    for block in joined:
        for piece in _split_block(block):
            piece = LEADING_NUMBER_RE.sub("", piece).strip()
            if piece and not NUMBERING_RE.match(piece):
                pieces.append(piece)
    return pieces


def is_list_item(sentence: str) -> bool:
    return bool(LIST_ITEM_RE.match(sentence))


_BOUNDARY = re.compile(r"(?<=[.!?;])[\"”’)]?\s+(?=[\"“(\[]?[A-Z0-9А-ЯЁ])")
_ABBREV_TAIL = re.compile(rf"\b{_ABBREVIATIONS}\.$", re.IGNORECASE)


def _split_block(block: str) -> list[str]:
    out: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(block):
        candidate = block[start : match.start()].strip()
        if block[match.start() - 1] == ";":
            continue  # keep clauses of one legal sentence together
        if _ABBREV_TAIL.search(candidate) or re.search(r"\b[A-Z]\.$", candidate):
            continue
        if candidate:
            out.append(candidate)
        start = match.end()
    tail = block[start:].strip()
    if tail:
        out.append(tail)
    return out


# --- specifics ----------------------------------------------------------------------------
YEAR_RE = re.compile(r"\b(1[89]\d\d|20\d\d)s?\b")
SYMBOL_RE = re.compile(r"\b[\w.]*\d[\w.]*(?:/[\w.]+)+\b|\b[A-Z]{1,5}\.[A-Z]{2,5}[./]\d[\w./]*")
NUMBER_RE = re.compile(r"(?<![\w/.])(\d+(?:[.,]\d+)?)(?:st|nd|rd|th|e|er|ème|\.)?(?![\w/])")
CAPITAL_RE = re.compile(r"\b[A-ZÀ-ÖØ-ÞА-ЯЁ][\w'’-]*")


def question_specifics(question: str) -> list[str]:
    """Names, places, years, numbers and symbols a question hinges on.

    If the library does not mention them, an answer would have to be guessed, however similar
    the rest of the question sounds to the library.
    """
    lang = guess_language(question)
    found: list[str] = []
    for m in SYMBOL_RE.finditer(question):
        found.append(m.group(0))
    symbol_spans = [m.span() for m in SYMBOL_RE.finditer(question)]

    def inside_symbol(pos: int) -> bool:
        return any(a <= pos < b for a, b in symbol_spans)

    for m in YEAR_RE.finditer(question):
        if not inside_symbol(m.start()):
            found.append(m.group(1))
    for m in NUMBER_RE.finditer(question):
        if not inside_symbol(m.start()) and not YEAR_RE.fullmatch(m.group(1)):
            found.append(m.group(1))
    sentence_starts = {0} | {m.end() for m in re.finditer(r"[.?!:]\s+|[«\"“(]\s*", question)}
    for m in CAPITAL_RE.finditer(question):
        token = m.group(0).strip("'’-")
        if m.start() in sentence_starts or inside_symbol(m.start()):
            continue
        if normalize(token) in ALL_STOPWORDS:
            continue
        if lang == "de" and not token.isupper():
            continue  # German capitalises every noun, so capitals say nothing there
        found.append(token)
    seen: set[str] = set()
    unique = []
    for item in found:
        key = normalize(item)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def acronym_expanded(acronym: str, text: str) -> bool:
    """Whether `text` spells out `acronym`: its letters, in order, are the initials of nearby
    capitalised words, small function words in between ("CRC": Convention on the Rights of
    the Child; "CEDAW": Convention on the Elimination of All Forms of Discrimination against Women)."""
    letters = acronym.upper()
    if not (2 <= len(letters) <= 8 and letters.isalpha()):
        return False
    tokens = re.findall(r"[A-Za-z][\w'-]*", text)
    window = 3 * len(letters)
    for start, first in enumerate(tokens):
        if first[0] != letters[0] or first.lower() in ALL_STOPWORDS:
            continue
        i, j = 1, start + 1
        while i < len(letters) and j < min(len(tokens), start + window):
            w = tokens[j]
            if w[0] == letters[i] or (w.lower() in ALL_STOPWORDS and w[0].upper() == letters[i]):
                i += 1
            j += 1
        if i == len(letters):
            return True
    return False


def specific_mentioned(specific: str, support: str, support_lower: str, support_numbers: set[int]) -> bool:
    """Whether the support mentions a question specific, after normalising possessives,
    numbers (digits or words, cardinals or ordinals) and acronyms the support spells out."""
    key = specific.replace("’", "'").strip("'")
    if key.lower().endswith("'s"):
        key = key[:-2]
    digits = key.rstrip(".")
    if digits.isdigit():
        return int(digits) in support_numbers
    numbered = re.fullmatch(r"([A-Za-z]{1,3})\s?0*(\d{1,4})", key)
    if numbered:  # an instrument by letter and number ("C182") is also "No. 182"
        letters, n = numbered.groups()
        return re.search(rf"\b(?:no\.?|{re.escape(letters.lower())})\s?0*{n}\b", support_lower) is not None
    low = key.lower()
    if re.fullmatch(r"\w+", low):
        if re.search(rf"\b{re.escape(low)}(?:s|es|'s)?\b", support_lower):
            return True
        return key.isupper() and acronym_expanded(key, support)
    return low in support_lower


def mentions(support: str, specific: str) -> bool:
    """Whether `support` mentions a question specific, in any of the forms `specific_mentioned` knows."""
    return specific_mentioned(specific, support, normalize(support), number_values(support))


def index_text(title: str, heading: str, text: str) -> str:
    """What is embedded and BM25-indexed for a chunk: its text in the context of its place."""
    context = " — ".join(part for part in (title, heading) if part)
    return f"{context}\n{text}" if context else text
