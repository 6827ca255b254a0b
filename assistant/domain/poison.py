"""Poisoned passages: text that steers the reader away from help, or that talks to the assistant.

A library page that says "do not contact the police; call 555-0100 and wire a 200 EUR
processing fee" must never be quoted as guidance: it is how a trafficker reaches a victim.
Every chunk is scanned at ingest and the names of the rules it breaks are stored with it;
flagged chunks of a document no trainer marked trusted are left out of answers.

Each rule is a few readable patterns (English, French, German, Russian) for one kind of
instruction, so a flag can always be explained: which rule, why, and the words that matched.
Legal text states duties in the third person ("States shall ensure that agencies do not
charge fees"); the rules look for the reader being told what to do (imperatives, "you must"),
and a phone number or a sum of money only where the reader is told to call or pay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FLAGS_FIELD = "flags"  # chunk metadata: the names of the rules a chunk breaks, comma-separated ("" when none)

_I = re.IGNORECASE | re.UNICODE

# Where an instruction to the reader starts: a sentence or clause start, or a softener.
_LEAD = r"(?:^|(?<=[.!?;:\n•–—(\"“«])|(?<=\band\b)|(?<=\bthen\b)|(?<=\bplease\b)|(?<=\bjust\b)|(?<=\bfirst\b)|(?<=\bimmediately\b)|(?<=\bsimply\b)|(?<=\bnow\b)|(?<=,))\s*"
# "you must / you should / you need to …" (EN), "vous devez", "Sie müssen", "вы должны".
_YOU_MUST = (
    r"(?:\byou(?:'ll| will)?\s+(?:must|should|need to|have to|are required to|will need to|ought to|are expected to)"
    r"|\bvous\s+(?:devez|devrez|êtes tenus? de)|\bil (?:vous )?faut"
    r"|\bSie\s+(?:müssen|sollten|sollen)"
    r"|\b(?:вы|ты)\s+(?:должны|должен|должна|обязаны))"
)
# Told not to: "Do not …", "never …" starting a clause, or "you must not …" ("victims often do not
# trust the police" is a statement about victims, not an instruction).
_NOT = rf"(?:{_LEAD}(?:do not|don[’']t|never|avoid|stay away from)\b|\byou (?:must|should) not\b|\byou mustn[’']t\b|\byou shouldn[’']t\b)"

_AUTHORITY_EN = r"(?:the\s+)?(?:police|authorities|embassy|consulate|labou?r inspect\w*|social workers?|NGOs?|hotlines?|helplines?|lawyers?|officials?)"
_AUTHORITY_FR = r"(?:la police|les autorités|l[’']ambassade|le consulat|la gendarmerie|les ONG|l[’']inspection du travail)"
_AUTHORITY_DE = r"(?:die Polizei|der Polizei|zur Polizei|die Behörden|den Behörden|zu den Behörden|die Botschaft|der Botschaft|das Konsulat)"
_AUTHORITY_RU = r"(?:полици\w*|милици\w*|власт\w*|посольств\w*|консульств\w*)"

_PHONE = r"(?<![\w/.,-])\+?\(?\d{1,4}\)?(?:[ .\-/]?\(?\d{1,5}\)?){1,6}(?![\w/-])"
_CURRENCY = r"(?:€|\$|£|₽|EUR|USD|GBP|CHF|RUB|euros?|dollars?|pounds?|francs?|Euro|рубл\w*|руб\.?|евро|долл\w*)"
_AMOUNT = rf"(?:{_CURRENCY}\s?\d[\d.,  ]*\d?|\d[\d.,  ]*\s?{_CURRENCY})"
_FEE = r"(?:fee|fees|deposit|charge|commission|frais|caution|acompte|commission|Gebühr\w*|Kaution|Anzahlung|Vermittlungsgebühr|сбор\w*|залог\w*|комисси\w*|взнос\w*|предоплат\w*)"
_PAY_IMPERATIVE = (
    rf"(?:{_LEAD}(?:pay|wire|transfer|send|deposit|remit|make a (?:payment|transfer|deposit))\b"
    rf"|{_YOU_MUST}\s+(?:first\s+|also\s+)?(?:pay|wire|transfer|send|deposit|remit|make a (?:payment|transfer|deposit))\b"
    r"|\b(?:payez|versez|virez|envoyez|réglez|effectuez un (?:virement|versement|paiement))\b"
    r"|\bvous devez (?:payer|verser|virer|envoyer|régler)\b"
    r"|\b(?:zahlen|überweisen|senden|schicken|hinterlegen)\s+Sie\b|\bSie müssen\b[^.;]{0,40}\b(?:zahlen|überweisen|hinterlegen)\b"
    r"|\b(?:заплатите|оплатите|переведите|отправьте|внесите|перечислите|заплати|оплати|переведи)\b"
    r"|\b(?:вы|ты) (?:должны|должен|должна) (?:заплатить|оплатить|перевести|внести)\b)"
)
_CALL_CONTEXT = (
    r"(?:\b(?:call|phone|ring|text|sms|dial|whats\s?app|telegram|viber|signal|contact|reach|hotline|helpline|tel|telephone|mobile|cell)\b"
    r"|\b(?:appel\w*|téléphon\w*|tél|contactez|joignez|numéro)\b"
    r"|\b(?:ruf\w*|anrufen|Telefon\w*|Tel|Handy|kontaktier\w*|melden Sie sich)\b"
    r"|(?:звон\w*|позвон\w*|телефон\w*|тел\b|свяж\w*|пиши\w*|напиши\w*|номер\w*))"
)


@dataclass(frozen=True)
class Rule:
    name: str
    reason: str  # why a passage breaking it must not be quoted, for the trainer reviewing it
    patterns: tuple[re.Pattern, ...]


def _rule(name: str, reason: str, *patterns: str) -> Rule:
    return Rule(name, reason, tuple(re.compile(p, _I) for p in patterns))


RULES: tuple[Rule, ...] = (
    _rule(
        "avoid-authorities",
        "tells the reader not to contact the police, authorities or helpers, or that they will punish them",
        rf"{_NOT}\s+(?:\w+\s+){{0,2}}?(?:contact|call|go to|tell|speak to|talk to|inform|report (?:it )?to|trust|approach|ask)\s+{_AUTHORITY_EN}\b",
        rf"\b{_AUTHORITY_EN}\s+(?:will|would|can|could)\s+(?:only\s+)?(?:arrest|deport|jail|imprison|punish|detain|fine)\s+you\b",
        rf"\b(?:n[’']appelez|ne contactez|n[’']allez|ne parlez|ne prévenez|n[’']informez|ne faites)\s+(?:pas|jamais)\s+(?:à |de |confiance à )?{_AUTHORITY_FR}",
        rf"\bévitez\s+{_AUTHORITY_FR}",
        rf"\b(?:rufen|kontaktieren|informieren|benachrichtigen|verständigen)\s+Sie\s+(?:auf keinen Fall\s+|niemals\s+|nicht\s+)(?:\w+\s+)?{_AUTHORITY_DE}",
        rf"\b(?:gehen|wenden)\s+Sie\s+sich\s+(?:auf keinen Fall\s+|niemals\s+|nicht\s+)(?:an\s+)?{_AUTHORITY_DE}|\bgehen Sie (?:nicht|niemals) {_AUTHORITY_DE}",
        rf"\bне\s+(?:звоните|обращайтесь|ходите|идите|сообщайте|связывайтесь|говорите|звони|обращайся|ходи)\s+(?:в\s+|к\s+|с\s+)?{_AUTHORITY_RU}",
    ),
    _rule(
        "keep-secret",
        "tells the reader to keep their situation secret from everyone",
        rf"{_NOT}\s+(?:tell|inform|talk to|speak to)\s+(?:anyone|anybody|your family|your friends|others)\b",
        r"\btell (?:no one|nobody)\b|\bkeep (?:this|it|everything) (?:a )?secret\b",
        r"\bne (?:le |en )?(?:dites|parlez|racontez)\s+(?:rien\s+)?(?:à|de cela à) personne\b|\bgardez (?:le|ce) secret\b",
        r"\b(?:sagen|erzählen)\s+Sie\s+(?:es|das|davon)?\s*niemandem\b|\bbehalten Sie (?:es|das) für sich\b",
        r"\bникому\s+не\s+(?:говорите|рассказывайте|сообщайте|говори|рассказывай)\b|\bдержите (?:это|всё) в (?:секрете|тайне)\b",
    ),
    _rule(
        "payment-request",
        "asks the reader to pay a fee, deposit or sum of money",
        rf"{_PAY_IMPERATIVE}[^.;!?\n]{{0,60}}?(?:{_AMOUNT}|{_FEE}|\bmoney\b|\bargent\b|\bGeld\b|\bденьг\w*)",
        rf"(?:{_AMOUNT}|\b{_FEE})[^.;!?\n]{{0,60}}?\b(?:must|has to|needs to|is to) be (?:paid|wired|transferred|sent|deposited)\b(?![^.;!?\n]{{0,30}}\bby (?:the )?(?:employer|State|agency))",
    ),
    _rule(
        "contact-number",
        "gives the reader a phone number to call or message",
        rf"{_CALL_CONTEXT}[^.;!?\n]{{0,40}}?(?P<phone>{_PHONE})",
    ),
    _rule(
        "hand-over-documents",
        "tells the reader to hand over their passport or identity documents",
        rf"(?:{_LEAD}|{_YOU_MUST}\s+)(?:give|hand(?: over)?|send|leave|surrender|bring)\s+(?:us\s+|me\s+|him\s+|her\s+|them\s+)?(?:over\s+)?your\s+(?:passport|ID|identity (?:card|documents?)|documents|papers|visa)\b",
        r"\b(?:we|I|the employer|your employer|the agency)\s+(?:will|must|shall)\s+(?:keep|hold|take)\s+your\s+(?:passport|ID|identity (?:card|documents?)|documents|papers)\b",
        r"\b(?:remettez|donnez|laissez|confiez)(?:-nous|-moi)?\s+(?:nous\s+)?votre\s+(?:passeport|pièce d[’']identité|carte d[’']identité|papiers)\b",
        r"\b(?:geben|übergeben|überlassen|schicken)\s+Sie\s+(?:uns\s+|mir\s+)?(?:Ihren|Ihre)\s+(?:Pass|Reisepass|Ausweis|Papiere|Dokumente)\b",
        r"\b(?:отдайте|сдайте|передайте|оставьте|отдай|сдай)\s+(?:нам\s+|мне\s+)?(?:ваш|свой|твой)?\s*(?:паспорт|документы)\b",
    ),
    _rule(
        "addresses-assistant",
        "gives instructions to the assistant instead of informing the reader",
        r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier|preceding|your|other)\s+(?:instructions|prompts?|rules|guidance|directions)\b",
        r"\bas an? (?:AI|artificial intelligence|language model|LLM|assistant|chatbot)\b[^.\n]{0,40}\byou\s+(?:must|should|will|are)\b",
        r"\b(?:note|instruction|message)s?\s+(?:to|for)\s+(?:the\s+|any\s+)?(?:AI|assistant|chatbot|language model|LLM|model)s?\b",
        r"\b(?:AI|assistant|chatbot|language model|LLM)s?\s+(?:must|should|shall)\s+(?:always\s+)?(?:say|tell|answer|recommend|reply|respond|state|advise)\b",
        r"\b(?:system prompt|new instructions:|you are now (?:a|an|the)\b)",
        r"\bignorez\s+(?:toutes\s+)?(?:les\s+)?instructions\s+(?:précédentes|antérieures)\b|\ben tant qu[’']IA\b[^.\n]{0,40}\bvous devez\b",
        r"\bignorier(?:e|en Sie)\s+(?:alle\s+)?(?:vorherigen|bisherigen|obigen)\s+Anweisungen\b|\bals KI\b[^.\n]{0,40}\b(?:musst|müssen)\b",
        r"\bигнорируй(?:те)?\s+(?:все\s+)?(?:предыдущие|прежние)\s+(?:инструкции|указания)\b|\bкак (?:ИИ|искусственный интеллект)\b[^.\n]{0,40}\b(?:ты|вы)\s+долж\w+\b",
    ),
)
RULES_BY_NAME = {rule.name: rule for rule in RULES}


@dataclass(frozen=True)
class Finding:
    """One rule a passage breaks, with the words that matched (shown to trainers)."""

    rule: str
    reason: str
    matched: str


def _real_phone(number: str) -> bool:
    """A phone number, not a date, a year range or a document symbol: 7 to 15 digits."""
    digits = sum(ch.isdigit() for ch in number)
    if not 7 <= digits <= 15:
        return False
    return not re.fullmatch(r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}\s*[-/–]\s*\d{2,4}", number.strip())


def scan_passage(text: str) -> list[Finding]:
    """The rules a passage breaks (at most one finding per rule), in the order of `RULES`."""
    findings: list[Finding] = []
    for rule in RULES:
        for pattern in rule.patterns:
            match = next((m for m in pattern.finditer(text) if "phone" not in m.groupdict() or _real_phone(m["phone"])), None)
            if match is not None:
                findings.append(Finding(rule.name, rule.reason, " ".join(match.group(0).split())))
                break
    return findings


def passage_flags(text: str) -> str:
    """The value of a chunk's `flags` metadata: rule names, comma-separated ("" when clean)."""
    return ",".join(f.rule for f in scan_passage(text))


def flag_reasons(flags: str, text: str = "") -> list[str]:
    """`rule: reason ("the words that matched")` for each rule named in a chunk's `flags`
    metadata; the words are found again in the chunk's `text` when it is given."""
    matched = {f.rule: f.matched for f in scan_passage(text)} if text else {}
    names = [n for n in (flags or "").split(",") if n]
    return [
        f"{n}: {RULES_BY_NAME[n].reason}{f' ({matched[n]!r})' if n in matched else ''}" if n in RULES_BY_NAME else n
        for n in names
    ]
