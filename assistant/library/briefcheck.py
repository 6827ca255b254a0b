"""Checks a trainer runs on a brief before it joins the library (`beacon check-briefs`).

A brief is the project's own summary of a source, so it must not silently reuse a source's
wording, state an article's obligation more strongly or weakly than the article does, claim to
be current earlier than the facts it reports, or describe a figure differently from another
brief. The checks are deliberately literal (word runs, modal verbs, dates, figures): each
finding points at a line a person then reads against the source; none of them decides truth.

Checks, each a `Finding.check` value:
    copied     8+ consecutive words shared with a library document, outside quotation marks
    modal      a sentence citing an article states a different strength ("asks" vs "shall")
    scope      a sentence citing a paragraph draws on several of its lettered points without
               naming them (e.g. Art. 7(2) prevention and 7(2)(c) education for removed children)
    as_of      the front-matter `as_of` is earlier than the latest date the brief mentions
    figure     the same figure is described two different ways across briefs
    date       the same event is dated differently in another brief or in a library document
    strength   the same commitment is given a different strength in another brief
    timing     a sentence citing an article states its timing differently ("three months after"
               where the article, or a brief quoting it, says "the first day of the month following")
    title      a document symbol (MC.DEC/6/17) is described by a subject its quoted title does not name
    source     a sentence gives an event or decision a verb of another strength than the library
               document about it uses for the same thing ("urged" where the source says "explored")
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from assistant.domain.errors import InvalidInput

RUN_WORDS = 8
TITLE_WORDS = frozenset("a an the of in on at to for and or against with especially by from".split())
BRIEF_SUFFIXES = (".md",)
LIBRARY_SUFFIXES = (".md", ".txt")

# Short names trainers use for instruments, keyed by a phrase of the instrument's full title.
INSTRUMENT_NAMES: dict[str, tuple[str, ...]] = {
    "trafficking in persons, especially women and children": ("palermo protocol", "trafficking in persons protocol", "un trafficking protocol"),
    "action against trafficking in human beings": ("council of europe convention", "cets no. 197", "cets 197", "coe convention"),
    "elimination of all forms of discrimination against women": ("cedaw",),
    "convention on the rights of the child": ("convention on the rights of the child", "uncrc"),
    "supplementary convention on the abolition of slavery": ("supplementary slavery convention", "supplementary convention"),
    "2011/36/eu": ("directive 2011/36/eu",),
}

MONTHS = {m: i for i, m in enumerate(["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"], 1)}
STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or but as is are was were be been being that this these those it its their his her "
    "which who whom whose what when where than then also such into over under about some around nearly almost per each every all any "
    "cites cited citing estimate estimates estimated global worldwide people persons".split()
)

# Strength of a stated duty: "shall"/"requires" binds, "should"/"asks" exhorts, "consider"/"may" leaves it open.
BINDING, EXHORT, OPTIONAL = "binding", "exhortation", "option"
CUES = [
    (OPTIONAL, r"consider(?:s|ing|ation)?|may|endeavou?rs?|encourag(?:e|es|ed)|invit(?:e|es|ed)|tr(?:y|ies)|recommend(?:s|ed)?|seek(?:s)?|possibility"),
    (EXHORT, r"should|calls? (?:on|upon)|called (?:on|upon)|urg(?:e|es|ed)|asks?|asked|expects?"),
    (BINDING, r"shall|must|requir(?:e|es|ed|ing)|oblig(?:e|es|ed|ation|ations)|undertakes?|ha(?:s|ve) to|commit(?:s|ted)? (?:themselves )?to"),
]
CUE_RE = re.compile(r"\b(" + "|".join(f"(?P<{name}>{pattern})" for name, pattern in CUES) + r")\b", re.I)
WEAKENERS = re.compile(r"\b(consider(?:s|ing|ation)?|endeavou?r|tr(?:y|ies)|seek|possibility)\b", re.I)
CITATION_RE = re.compile(r"\bArt(?:icle)?s?\.?\s+(\d+)((?:\(\d+\))?)((?:\([a-z]\))?)((?:\s*[–-]\s*\([a-z]\))?)")
QUOTE_RE = re.compile(r"\"[^\"\n]*\"|“[^”\n]*”|«[^»\n]*»")
FIGURE_RE = re.compile(r"(?:US\$|USD\s?|\$|€)?(\d[\d,]*(?:\.\d+)?)\s+(million|billion)\b", re.I)
DAY_DATE_RE = re.compile(r"\b(\d{1,2})(?:[–-](\d{1,2}))?\s+(" + "|".join(MONTHS) + r")\s+((?:19|20)\d{2})\b", re.I)
MONTH_DATE_RE = re.compile(r"\b(" + "|".join(MONTHS) + r")\s+((?:19|20)\d{2})\b", re.I)
RANGE_END_RE = re.compile(r"(?:\d\s*[–-]\s*|\bto\s+(?:\d{1,2}\s+)?|\buntil\s+(?:\d{1,2}\s+)?)$")
YEAR_RE = re.compile(r"(?<![/\d.-])((?:19|20)\d{2})(?![/\d])")

# Timing: periods ("three months", "90 days", "the ninetieth day") and the anchor that moves a date
# to the start of a month ("the first day of the month following").
NUMBER_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())} | {"thirty": 30, "sixty": 60, "ninety": 90}
ORDINAL_WORDS = {"second": 2, "third": 3, "fifteenth": 15, "thirtieth": 30, "sixtieth": 60, "ninetieth": 90}
MONTH_ANCHOR = "the first day of the following month"
ANCHOR_RE = re.compile(r"\bfirst day of the (?:month following|following month)\b", re.I)
PERIOD_RE = re.compile(r"\b(\d+|" + "|".join(NUMBER_WORDS) + "|" + "|".join(ORDINAL_WORDS) + r"|\d+(?:st|nd|rd|th))[\s-]+(day|week|month|year)s?\b", re.I)

# Document symbols, in the forms briefs and sources write them, mapped to one spelling.
MC_SYMBOL_RE = re.compile(r"\b(?:MC\.DEC/|(?:MC|Ministerial Council) Decision (?:No\.\s*)?|Decision No\.\s*)(\d+)/(\d{2})\b")
PC_SYMBOL_RE = re.compile(r"\b(?:PC\.DEC/|Permanent Council Decision No\.\s*)(\d+)\b")
# How a sentence says what a document is about: "MC.DEC/6/17 on X", "… is a decision that addresses X".
DESCRIBED_RE = re.compile(r"^\s*(?:\([^)]*\)\s*)?(?:(?:is|was) (?:a|an|the) (?:[\w./-]+ ){0,5}?(?:decision|declaration|addendum|document)\b[^.;\"“]{0,30}?\s+(?:(?:that|which) (?:addresses|covers|concerns|deals with)|on|about|concerning|titled|entitled)|on|about|concerning|:)\s+(.+)", re.I)
TITLED_RE = re.compile(r"^[^\"“]{0,80}?\b(?:titled|entitled|called)\s+[\"“]([^\"”]+)[\"”]|^\s*(?:\([^)]*\))?\s*[,:]?\s*\(?[\"“]([^\"”]+)[\"”]", re.I)

# Verbs that report what an event or body did with a theme rather than asked of anyone.
DISCUSSED = "discussion"
DISCUSS_RE = re.compile(r"\b(explor(?:e|es|ed|ing)|discuss(?:es|ed|ing)?|examin(?:e|es|ed|ing)|debat(?:e|es|ed|ing)|delv(?:e|es|ed|ing)|focus(?:es|ed)? on|look(?:s|ed)? at|analy[sz](?:e|es|ed|ing))\b", re.I)
ORDINAL_EVENT_RE = re.compile(r"\b(\d+(?:st|nd|rd|th))\s+((?:[A-Z][a-z]+\s+)*)(?:[a-z]+)?")
OBJECT_GENERIC = frozenset({"parti", "state", "osce", "measu", "again", "ensur", "membe", "count", "gover"})


@dataclass(frozen=True)
class Finding:
    """One thing a person should look at: where, which check, and what to compare it with."""

    check: str
    line: int
    message: str
    excerpt: str
    other: str = ""


@dataclass
class BriefReport:
    brief: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict:
        return {"brief": self.brief, "ok": self.ok, "findings": [asdict(f) for f in self.findings]}


@dataclass(frozen=True)
class LibraryDocument:
    """A document to compare briefs with: its name (file name or title) and full text."""

    name: str
    text: str


@dataclass
class Sentence:
    text: str
    line: int
    section: str
    paragraph: int


@dataclass
class Brief:
    path: Path
    meta: dict
    body: str
    body_start: int  # line number of the first body line
    sentences: list[Sentence]

    @property
    def name(self) -> str:
        return self.path.name


# ----------------------------------------------------------------------------- reading


def find_briefs(paths: list[Path]) -> list[Path]:
    """Markdown files named directly or found (recursively) in the given folders."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in BRIEF_SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise InvalidInput(f"{path} does not exist: give brief files (.md) or folders of briefs.")
    if not found:
        raise InvalidInput(f"No briefs (.md) in {', '.join(map(str, paths))}: give brief files or folders of briefs.")
    return found


def library_from_paths(paths: list[Path]) -> list[LibraryDocument]:
    """Text files (.md, .txt) named directly or found in folders, as library documents."""
    documents = []
    for path in paths:
        if not path.exists():
            raise InvalidInput(f"--library {path} does not exist: give a folder or file of documents to compare with.")
        files = sorted(p for p in path.rglob("*") if p.suffix in LIBRARY_SUFFIXES and p.is_file()) if path.is_dir() else [path]
        documents += [LibraryDocument(f.name, f.read_text(encoding="utf-8", errors="replace")) for f in files]
    return documents


def library_from_assistant(beacon, extra: list[Path] = ()) -> list[LibraryDocument]:
    """The current library's documents (rebuilt from their chunks, article headings restored),
    plus the text files of any `extra` folder that exists (e.g. ../shared/corpus)."""
    documents = []
    for summary in beacon.list_documents():
        parts, locator = [], None
        for chunk in beacon.document_chunks(summary.doc_id):
            if chunk.get("locator") != locator and str(chunk.get("locator", "")).startswith("Article"):
                parts.append(f"### {chunk['locator'].split('(')[0].strip()}")
            locator = chunk.get("locator")
            parts.append(chunk["text"])
        documents.append(LibraryDocument(Path(summary.source).name or summary.title, "\n".join(parts)))
    return documents + library_from_paths([p for p in extra if p.is_dir()])


def read_brief(path: Path) -> Brief:
    text = path.read_text(encoding="utf-8")
    meta: dict = {}
    body, body_start = text, 1
    match = re.match(r"\A---\n(.*?)\n---\n", text, re.S)
    if match:
        try:
            meta = yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{path}: the front matter is not valid YAML ({exc}); fix it and check again.") from exc
        body = text[match.end():]
        body_start = text[: match.end()].count("\n") + 1
    return Brief(path, meta if isinstance(meta, dict) else {}, body, body_start, split_sentences(body, body_start))


def split_sentences(body: str, first_line: int) -> list[Sentence]:
    """Sentences of the prose (not headings, not the Sources list), with line and section."""
    sentences: list[Sentence] = []
    section, paragraph = "", 0
    for offset, line in enumerate(body.splitlines()):
        stripped = line.strip()
        if stripped.startswith("#"):
            section = stripped.lstrip("#").strip()
            paragraph += 1
            continue
        if not stripped or section.lower().startswith("source"):
            paragraph += 1
            continue
        stripped = re.sub(r"^[-*]\s+(\*\*[^*]+\*\*\s*)?", "", stripped)
        paragraph += line.lstrip().startswith(("-", "*"))
        for part in re.split(r"(?<=[.!?])\s+(?=[A-Z\"“(])", stripped):
            if part.strip():
                sentences.append(Sentence(part.strip(), first_line + offset, section, paragraph))
    return sentences


# ----------------------------------------------------------------------------- words


def words(text: str) -> list[str]:
    return [w.lower() for w in raw_words(text)]


def raw_words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?", text.replace("’", "'"))


def is_name(tokens: list[str]) -> bool:
    """A run that is mostly capitalised words (a title or an office) names something; it is not prose."""
    significant = [t for t in tokens if t.lower() not in TITLE_WORDS]
    return bool(significant) and sum(t[0].isupper() for t in significant) >= 0.75 * len(significant)


def content_stems(text: str) -> set[str]:
    return {w[:5] for w in words(text) if w not in STOPWORDS and not w.isdigit() and len(w) > 2}


def unquoted_segments(line: str) -> list[str]:
    """The parts of a line outside quotation marks (quoted wording is allowed to match)."""
    return QUOTE_RE.split(re.sub(r"https?://\S+", " ", line))


def strength(text: str) -> tuple[str, str] | None:
    """(class, the words that state it) for the first duty cue of `text`, or None."""
    plain = QUOTE_RE.sub(lambda m: m.group(0) if re.search(r"\bshall\b|\bmay\b", m.group(0)) else " ", text)
    match = CUE_RE.search(plain)
    if not match:
        return None
    kind = next(name for name, _ in CUES if match.group(name))
    following = plain[match.end(): match.end() + 60]
    weak = WEAKENERS.search(" ".join(following.split()[:5]))
    if kind != OPTIONAL and weak:
        return OPTIONAL, f"{match.group(0)} … {weak.group(0)}"
    return kind, match.group(0)


def timing(text: str) -> set[str]:
    """The periods a text states ("3 month", "90 day") and the month anchor, each as one phrase."""
    found = {MONTH_ANCHOR} if ANCHOR_RE.search(text) else set()
    for m in PERIOD_RE.finditer(ANCHOR_RE.sub(" ", text)):
        n = m.group(1).lower()
        number = NUMBER_WORDS.get(n) or ORDINAL_WORDS.get(n) or int(re.sub(r"\D", "", n))
        found.add(f"{number} {m.group(2).lower()}")
    return found


def symbols_in(text: str) -> list[tuple[str, int, int]]:
    """(symbol in one spelling, start, end) of each OSCE document symbol in `text`."""
    found = [(f"MC.DEC/{m.group(1)}/{m.group(2)}", m.start(), m.end()) for m in MC_SYMBOL_RE.finditer(text)]
    found += [(f"PC.DEC/{m.group(1)}", m.start(), m.end()) for m in PC_SYMBOL_RE.finditer(text)]
    return sorted(found, key=lambda f: f[1])


# ----------------------------------------------------------------------------- instruments


@dataclass
class Instrument:
    key: str
    aliases: tuple[str, ...]
    articles: dict[str, str] = field(default_factory=dict)  # "7" -> article text; paragraphs and points are cut on lookup
    quoted: dict[str, list[str]] = field(default_factory=dict)  # "26" -> quotations of it found in documents


def instrument_key(title: str) -> tuple[str, tuple[str, ...]]:
    low = " ".join(title.lower().split())
    for phrase, names in INSTRUMENT_NAMES.items():
        if phrase in low:
            return names[0], names + (phrase,)
    number = re.search(r"(?:\(no\.\s*|convention no\.\s*)(\d{2,3})\b", low)
    if number:
        n = int(number.group(1))
        return f"c{n:03d}", (f"c{n:03d}", f"c{n}", f"c {n}", f"convention no. {n}", f"(no. {n})")
    return low, (low,)


def parse_articles(text: str) -> dict[str, str]:
    """Article number -> text, from headings such as `### Article 7` or a line `Article 7`."""
    parts = re.split(r"(?im)^\s*#*\s*Article\s+(\d+)\s*$", text)
    articles: dict[str, str] = {}
    for number, chunk in zip(parts[1::2], parts[2::2]):
        articles.setdefault(number, chunk.strip())
    return articles


def build_instruments(library: list[LibraryDocument], briefs: list[Brief]) -> list[Instrument]:
    instruments: dict[str, Instrument] = {}
    for doc in library:
        articles = parse_articles(doc.text)
        if len(articles) < 2:
            continue
        title = next((line.lstrip("#").strip() for line in doc.text.splitlines() if line.strip()), doc.name)
        key, aliases = instrument_key(title + " " + doc.name)
        instruments.setdefault(key, Instrument(key, aliases)).articles.update(articles)
    for phrase, names in INSTRUMENT_NAMES.items():  # instruments known only through quotations
        instruments.setdefault(names[0], Instrument(names[0], names + (phrase,)))
    quoting = [split_sentences(d.text, 1) for d in library] + [b.sentences for b in briefs]
    for sentences in quoting:
        for i, sentence in enumerate(sentences):
            quotes = QUOTE_RE.findall(sentence.text)
            if not quotes:
                continue
            for ref, instrument in citations(sentence, sentences[:i], None, list(instruments.values())):
                instrument.quoted.setdefault(ref[0] + ref[1], []).append(" ".join(q.strip("\"“”«»") for q in quotes))
    return [i for i in instruments.values() if i.articles or i.quoted]


def mentions(text: str, instrument: Instrument) -> int:
    """Position of the last alias of `instrument` in `text` (-1 when none)."""
    low = text.lower()
    return max((low.rfind(a) for a in instrument.aliases if re.search(r"(?<![a-z0-9])" + re.escape(a) + r"(?![a-z0-9])", low)), default=-1)


def citations(sentence: Sentence, before: list[Sentence], brief: Brief | None, instruments: list[Instrument]):
    """(article, paragraph, point, point range) references in a sentence with the instrument each refers to.

    The instrument is the one named nearest before the reference in the sentence, else in the
    section heading, else in the section's earlier sentences, else in the brief's title."""
    for match in CITATION_RE.finditer(sentence.text):
        ref = (match.group(1), match.group(2), match.group(3), match.group(4))
        head = sentence.text[: match.start()] + " " + sentence.text[match.end(): match.end() + 80]
        contexts = [sentence.text[: match.start()], head, sentence.section]
        contexts += [s.text for s in reversed(before) if s.section == sentence.section]
        if brief is not None:
            contexts += [str(brief.meta.get("title", "")) + " " + str(brief.meta.get("symbol", ""))]
        for context in contexts:
            named = [(mentions(context, i), i) for i in instruments]
            named = [(pos, i) for pos, i in named if pos >= 0]
            if named:
                yield ref, max(named, key=lambda n: n[0])[1]
                break


def article_unit(instrument: Instrument, ref: tuple[str, str, str, str]) -> tuple[list[str], dict[str, str]]:
    """Sentences of the cited article/paragraph/point (with its chapeau), and the lettered points under it."""
    number, para, point, _ = ref
    text = instrument.articles.get(number)
    if text is None:
        if para:
            return instrument.quoted.get(number + para, []), {}
        return [q for key, quotes in instrument.quoted.items() if re.fullmatch(re.escape(number) + r"(\(\d+\))?", key) for q in quotes], {}
    text = re.sub(r"(?m)^#+.*$", "", text)
    if para:
        paragraphs = re.split(r"(?m)^\s*(\d+)\.\s+", text)
        numbered = dict(zip(paragraphs[1::2], paragraphs[2::2]))
        text = numbered.get(para.strip("()"), text)
    pieces = re.split(r"(?m)^\s*\(?([a-z])\)\s+", text)
    chapeau, points = pieces[0], dict(zip(pieces[1::2], pieces[2::2]))
    if point and point.strip("()") in points:
        return [chapeau + " " + points[point.strip("()")]], points
    return [chapeau] + [chapeau + " " + p for p in points.values()] if points else [text], points


# ----------------------------------------------------------------------------- checks


def check_copied(brief: Brief, grams: dict[tuple[str, ...], str]) -> list[Finding]:
    findings = []
    in_sources = False
    for offset, line in enumerate(brief.body.splitlines()):
        if line.startswith("#"):
            in_sources = line.lstrip("#").strip().lower().startswith("source")
            continue
        if in_sources:
            continue
        for segment in unquoted_segments(line):
            shown = raw_words(segment)
            tokens = [t.lower() for t in shown]
            i = 0
            while i + RUN_WORDS <= len(tokens):
                source = grams.get(tuple(tokens[i: i + RUN_WORDS]))
                if source is None:
                    i += 1
                    continue
                end = i + RUN_WORDS
                while end < len(tokens) and tuple(tokens[end - RUN_WORDS + 1: end + 1]) in grams:
                    end += 1
                run = " ".join(shown[i:end])
                if is_name(shown[i:end]):
                    i = end
                    continue
                findings.append(Finding("copied", brief.body_start + offset, f"{end - i} consecutive words also in {source}: put the wording in quotation marks with its article, or say it in your own words", run, source))
                i = end
    return findings


def check_modal(brief: Brief, instruments: list[Instrument]) -> list[Finding]:
    findings = []
    for i, sentence in enumerate(brief.sentences):
        refs = list(citations(sentence, brief.sentences[:i], brief, instruments))
        if not refs:
            continue
        for ref, instrument in refs:
            claimed = strength(clause_of(sentence.text, ref))
            previous = brief.sentences[i - 1] if i else None
            if claimed is None and previous is not None and previous.paragraph == sentence.paragraph and not CITATION_RE.search(previous.text):
                claimed = strength(previous.text)  # "X should happen. Article 26 is the provision on X."
            unit, points = article_unit(instrument, ref)
            findings += check_scope(sentence, ref, points, instrument)
            findings += check_timing(sentence, ref, unit, instrument)
            if claimed is None or not unit:
                continue
            stated = {s for s in (strength(u) for u in unit) if s}
            if stated and claimed[0] not in {kind for kind, _ in stated}:
                cited = "Article " + "".join(ref)
                wording = "; ".join(sorted({f"\"{cue}\"" for _, cue in stated}))
                findings.append(Finding("modal", sentence.line, f"says \"{claimed[1]}\" ({claimed[0]}) for {cited} of {instrument.key}, whose text says {wording}", sentence.text, f"{instrument.key}, {cited}"))
    return findings


def clause_of(text: str, ref: tuple[str, str, str, str]) -> str:
    """The part of a sentence that a reference governs, when a sentence cites several articles."""
    clauses = re.split(r";\s+", text)
    cited = "".join(ref[:3])
    for clause in clauses:
        if any("".join(m.groups()[:3]) == cited for m in CITATION_RE.finditer(clause)):
            return clause
    return text


def check_timing(sentence: Sentence, ref: tuple[str, str, str, str], unit: list[str], instrument: Instrument) -> list[Finding]:
    """A period the article does not state, or a dropped month anchor ("the first day of the month following")."""
    claimed = timing(clause_of(sentence.text, ref))
    stated = set().union(*(timing(u) for u in unit)) if unit else set()
    if not claimed or not stated:
        return []
    wrong = claimed - stated
    dropped = (stated - claimed) & {MONTH_ANCHOR}
    if not wrong and not dropped:
        return []
    cited = "Article " + "".join(ref[:2])
    said = "; ".join(f"\"{t}\"" for t in sorted(claimed))
    text = "; ".join(f"\"{t}\"" for t in sorted(stated))
    return [Finding("timing", sentence.line, f"states the timing of {cited} of {instrument.key} as {said}, whose wording says {text}", sentence.text, f"{instrument.key}, {cited}")]


def check_scope(sentence: Sentence, ref: tuple[str, str, str, str], points: dict[str, str], instrument: Instrument) -> list[Finding]:
    if len(points) < 2 or ref[2] or ref[3]:
        return []
    others = {letter: set().union(*(content_stems(t) for other, t in points.items() if other != letter)) for letter in points}
    distinctive = {letter: content_stems(text) - others[letter] - {"child", "worst", "forms", "labou"} for letter, text in points.items()}
    claimed = content_stems(clause_of(sentence.text, ref))
    hit = sorted(letter for letter, stems in distinctive.items() if stems & claimed)
    if len(hit) < 2:
        return []
    cited = "Article " + "".join(ref[:2])
    return [Finding("scope", sentence.line, f"cites {cited} of {instrument.key} but draws on its points {', '.join(f'({h})' for h in hit)}, which differ in scope: cite each point with what it covers", sentence.text, f"{instrument.key}, {cited}")]


def dates_in(text: str) -> list[tuple[int, int, str]]:
    """(year, month, text) of each date; a bare year counts as January of that year."""
    found = []
    for m in MONTH_DATE_RE.finditer(text):
        found.append((int(m.group(2)), MONTHS[m.group(1).lower()], m.group(0), m.start()))
    spans = [range(m.start(), m.end()) for m in MONTH_DATE_RE.finditer(text)]
    for m in YEAR_RE.finditer(text):
        if not any(m.start() in span for span in spans):
            found.append((int(m.group(1)), 1, m.group(0), m.start()))
    # The end of a period ("2023–2025", "to 31 March 2025") is often a plan, not a reported fact.
    return [(y, mo, shown) for y, mo, shown, at in found if not RANGE_END_RE.search(text[max(0, at - 12): at])]


def check_as_of(brief: Brief) -> list[Finding]:
    as_of = str(brief.meta.get("as_of", "")).strip()
    match = re.fullmatch(r"(\d{4})(?:-(\d{2}))?", as_of)
    if not match:
        return [Finding("as_of", 1, f"as_of {as_of!r} is missing or not YYYY or YYYY-MM: add the date the brief's facts were last checked", as_of)]
    stamp = (int(match.group(1)), int(match.group(2) or 12))
    latest = None
    for sentence in brief.sentences:
        for year, month, shown in dates_in(sentence.text):
            if latest is None or (year, month) > latest[0]:
                latest = ((year, month), shown, sentence)
    if latest and latest[0] > stamp:
        return [Finding("as_of", latest[2].line, f"as_of {as_of} is earlier than {latest[1]}, the latest date the brief mentions: set as_of to when the brief's facts were last checked", latest[2].text)]
    return []


def figures_in(sentence: Sentence) -> list[tuple[str, set[str], str]]:
    """(figure, the words around it that say what it counts, excerpt) for each million/billion figure."""
    found = []
    for m in FIGURE_RE.finditer(sentence.text):
        figure = f"{m.group(1).replace(',', '')} {m.group(2).lower()}"
        after = re.split(r"[,;:.()]|\band\b|\bwhile\b|\bwhich\b|\bworldwide\b", sentence.text[m.end():])[0]
        before = re.split(r"[,;:()]|\band\b|\bwhich\b", sentence.text[: m.start()])[-1]
        described = content_stems(" ".join(before.split()[-4:] + after.split()[:8])) - {"milli", "billi"}
        if described:
            found.append((figure, described, sentence.text[max(0, m.start() - 40): m.end() + 40].strip()))
    return found


def check_figures(briefs: list[Brief]) -> dict[str, list[Finding]]:
    """A figure whose descriptions in one brief share no word with those in another brief."""
    seen: dict[str, dict[str, tuple[set[str], Sentence, str]]] = {}
    for brief in briefs:
        for sentence in brief.sentences:
            for figure, described, excerpt in figures_in(sentence):
                pooled, first, shown = seen.setdefault(figure, {}).get(brief.name, (set(), sentence, excerpt))
                seen[figure][brief.name] = (pooled | described, first, shown)
    findings: dict[str, list[Finding]] = {}
    for figure, uses in seen.items():
        for name, (described, sentence, excerpt) in uses.items():
            for other, (other_described, _, other_excerpt) in uses.items():
                if other != name and not described & other_described:
                    findings.setdefault(name, []).append(Finding("figure", sentence.line, f"{figure} is described differently in {other} (\"{other_excerpt}\"): say what the figure counts the same way in both", excerpt, other))
                    break
    return findings


def dated(text: str) -> tuple[set[str], set[tuple[str, str, str]]]:
    """(content stems without the dates, the days named) of a sentence."""
    stems = content_stems(DAY_DATE_RE.sub(" ", text)) - set(MONTHS) - {m[:5] for m in MONTHS}
    return stems, {(d, m.group(3).lower(), m.group(4)) for m in DAY_DATE_RE.finditer(text) for d in m.group(1, 2) if d}


def date_contexts(text: str) -> list[tuple[tuple[str, str, str], set[str]]]:
    """(day, the content stems of the ten words before it) for each day a sentence names."""
    found, previous = [], 0
    for m in DAY_DATE_RE.finditer(text):
        before = content_stems(" ".join(text[previous: m.start()].split()[-10:]))
        found += [((d, m.group(3).lower(), m.group(4)), before) for d in m.group(1, 2) if d]
        previous = m.end()
    return found


def dated_differently_in_source(text: str, source: str) -> str:
    """The source's day for the event a sentence dates, when the words leading to the two dates
    say the same thing (three stems, half of them) in the same month and the days differ."""
    ours, theirs = date_contexts(text), date_contexts(source)
    for day, before in ours:
        for other_day, other_before in theirs:
            shared = before & other_before
            same_event = len(shared) >= 3 and len(shared) >= 0.5 * min(len(before), len(other_before))
            if same_event and day[1:] == other_day[1:] and not any(d == other_day for d, _ in ours) and not any(d == day for d, _ in theirs):
                return " ".join(other_day)
    return ""


def dated_differently(stems, days, other_stems, other_days) -> bool:
    """Two sentences that say the same thing (half their words) about the same month, on other days."""
    shared = stems & other_stems
    similar = len(shared) >= 4 and len(shared) >= 0.5 * min(len(stems), len(other_stems))
    return bool(similar and days and other_days and not days & other_days and {d[1:] for d in days} & {d[1:] for d in other_days})


def check_cross_brief(briefs: list[Brief], sources: list[SourceDocument] = ()) -> dict[str, list[Finding]]:
    """The same statement in two briefs, or in a brief and a library document, with a different
    date; the same commitment in two briefs with a different strength."""
    stated = []
    for brief in briefs:
        for sentence in brief.sentences:
            stems, days = dated(sentence.text)
            symbols = {s for s, _, _ in symbols_in(sentence.text)}
            stated.append((brief, sentence, stems, days, symbols, strength(sentence.text)))
    sourced = [(doc.name, text) for doc in sources for text in doc.sentences if DAY_DATE_RE.search(text)]
    findings: dict[str, list[Finding]] = {}
    for brief, sentence, stems, days, symbols, duty in stated:
        for name, text in sourced if days else ():
            shown = dated_differently_in_source(sentence.text, text)
            if shown:
                findings.setdefault(brief.name, []).append(Finding("date", sentence.line, f"{name} dates the same event {shown}: \"{' '.join(text.split())}\"", sentence.text, name))
                break
        for other, other_sentence, other_stems, other_days, other_symbols, other_duty in stated:
            if other is brief:
                continue
            shared = stems & other_stems
            if dated_differently(stems, days, other_stems, other_days):
                shown = ", ".join(" ".join(d) for d in sorted(other_days))
                findings.setdefault(brief.name, []).append(Finding("date", sentence.line, f"{other.name} dates the same event {shown}", sentence.text, other.name))
            same_commitment = symbols & other_symbols and len(shared - {s.lower()[:5] for s in symbols}) >= 3
            if same_commitment and duty and other_duty and duty[0] != other_duty[0] and _objects_match(sentence.text, other_sentence.text, duty, other_duty):
                findings.setdefault(brief.name, []).append(Finding("strength", sentence.line, f"says \"{duty[1]}\" ({duty[0]}) where {other.name} says \"{other_duty[1]}\" ({other_duty[0]}) for the same commitment", sentence.text, other.name))
    return findings


def _objects_match(text: str, other: str, duty, other_duty) -> bool:
    """Both duties govern the same object: the words right after each cue overlap in 2+ stems."""
    def obj(t: str) -> set[str]:
        m = CUE_RE.search(t)
        return content_stems(" ".join(t[m.end():].split()[:12])) - {"parti", "state", "consi", "measu"} if m else set()

    return len(obj(text) & obj(other)) >= 2


def described_sites(brief: Brief) -> list[tuple[str, int]]:
    """Where a brief says what something is: its sentences, its headings and its title (text, line)."""
    sites = [(s.text, s.line) for s in brief.sentences]
    sites += [(line.lstrip("#").strip(), brief.body_start + i) for i, line in enumerate(brief.body.splitlines()) if line.startswith("#")]
    return sites + [(str(brief.meta.get("title", "")), 1)]


def symbol_titles(texts: list[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """symbol -> (title, where) for each symbol given a title in quotation marks:
    `MC.DEC/6/17 … titled "…"`, `MC.DEC/6/17, "…"` or `"…" (MC.DEC/6/17`."""
    titles: dict[str, tuple[str, str]] = {}
    for text, where in texts:
        found = symbols_in(text)
        for i, (symbol, _, end) in enumerate(found):
            following = text[end: found[i + 1][1] if i + 1 < len(found) else len(text)]
            m = TITLED_RE.match(following)
            if m:
                titles.setdefault(symbol, (m.group(1) or m.group(2), where))
        for m in re.finditer(r"[\"“]([^\"”]+)[\"”]\s*\(", text):
            after = symbols_in(text[m.end(): m.end() + 20])
            if after and after[0][1] == 0:
                titles.setdefault(after[0][0], (m.group(1), where))
    # A title of three words or fewer ("One Decade Later") is a short name; it does not state a subject.
    return {symbol: (title, where) for symbol, (title, where) in titles.items() if len(title.split()) > 3}


def check_titles(briefs: list[Brief], titles: dict[str, tuple[str, str]]) -> dict[str, list[Finding]]:
    """A symbol described ("MC.DEC/6/17 on …", "… a decision that addresses …") by a subject that
    its title, quoted elsewhere, does not name."""
    findings: dict[str, list[Finding]] = {}
    for brief in briefs:
        for text, line in described_sites(brief):
            found = symbols_in(text)
            for i, (symbol, _, end) in enumerate(found):
                if symbol not in titles:
                    continue
                following = text[end: found[i + 1][1] if i + 1 < len(found) else len(text)]
                m = DESCRIBED_RE.match(following)
                if not m or m.group(1).lstrip().startswith(("\"", "“")):
                    continue
                subject = re.split(r"[.;:,()]|\bincluding\b|\bwhich\b|\band\b", m.group(1))[0].strip()
                title, where = titles[symbol]
                extra = content_stems(subject) - content_stems(title) - {"decis", "osce", "minis", "counc"}
                if extra:
                    findings.setdefault(brief.name, []).append(Finding("title", line, f"describes {symbol} as about \"{subject}\", which its title \"{title}\" ({where}) does not name: give the title, or say which part of it you mean", text, where))
    return findings


def parenthetical_free(text: str) -> str:
    return re.sub(r"\([^()]*\)", " ", QUOTE_RE.sub(" ", text))


def verb_segments(text: str) -> list[tuple[str, str, str]]:
    """(strength, cue, the words it governs) for each reporting or duty verb of a source sentence.

    A verb governs the words up to the next verb; the words before the first verb go with it
    ("the need to target vulnerabilities was explored")."""
    plain = parenthetical_free(text)
    cues = sorted([(m.start(), m.end()) for m in CUE_RE.finditer(plain)] + [(m.start(), m.end()) for m in DISCUSS_RE.finditer(plain)])
    kept: list[tuple[int, int]] = []
    for start, end in cues:  # "asks States to consider": the second cue qualifies the first
        if kept and len(plain[kept[-1][1]: start].split()) < 5:
            continue
        kept.append((start, end))
    segments = []
    for i, (start, end) in enumerate(kept):
        stop = kept[i + 1][0] if i + 1 < len(kept) else len(plain)
        words_governed = (plain[:start] if i == 0 else "") + " " + plain[end:stop]
        if DISCUSS_RE.fullmatch(plain[start:end]):
            kind, cue = DISCUSSED, plain[start:end]
        else:
            kind, cue = strength(plain[start:stop]) or (None, "")
        if kind:
            segments.append((kind, cue, words_governed))
    return segments


def subject_keys(text: str) -> tuple[set[str], list[tuple[str, set[str]]]]:
    """What a clause is about: document symbols, and numbered events ("24th Alliance conference")."""
    symbols = {s for s, _, _ in symbols_in(text)}
    events = [(m.group(1).lower(), {w.lower() for w in m.group(2).split()}) for m in ORDINAL_EVENT_RE.finditer(text) if m.group(2).strip()]
    return symbols, events


def names_subject(text: str, symbols: set[str], events: list[tuple[str, set[str]]]) -> bool:
    low = text.lower()
    if symbols & {s for s, _, _ in symbols_in(text)}:
        return True
    return any(re.search(r"\b" + ordinal + r"\b", low) and all(re.search(r"\b" + re.escape(n) + r"\b", low) for n in names) for ordinal, names in events)


@dataclass
class SourceDocument:
    name: str
    top: str  # the first lines: what the document is about
    sentences: list[str]


def source_documents(library: list[LibraryDocument], skip: set[str]) -> list[SourceDocument]:
    docs = []
    for doc in library:
        if doc.name in skip:
            continue
        lines = [line for line in doc.text.splitlines() if line.strip()]
        # File names cited inside a document ("— osce-mc-dec-8-07.txt, exc 2") are not its wording.
        text = re.sub(r"\S+\.(?:txt|md|pdf|html?)\b", " ", doc.text)
        docs.append(SourceDocument(doc.name, " ".join(lines[:3]), [s.text for s in split_sentences(text, 1)]))
    return docs


def check_sources(brief: Brief, sources: list[SourceDocument]) -> list[Finding]:
    """A sentence that gives an event or decision a verb ("urged", "asks … to consider") of another
    strength than the library document about it uses for the same thing; both are shown."""
    findings = []
    for sentence in brief.sentences:
        for plain in re.split(r";\s+", parenthetical_free(sentence.text)):
            match = CUE_RE.search(plain)
            claimed = strength(plain[match.start():]) if match else None
            if claimed is None:
                continue
            symbols, events = subject_keys(plain[: match.start()])
            if not symbols and not events or re.search(r"\bthat\b", plain[: match.start()]):
                continue  # no named subject, or the verb is inside reported content ("stresses that laws must …")
            about = [(doc, [s for s in doc.sentences if names_subject(doc.top, symbols, events) or names_subject(s, symbols, events)]) for doc in sources]
            segments = [(doc.name, seg) for doc, sentences in about for s in sentences for seg in verb_segments(s)]
            for part in re.split(r",\s*(?:and\s+)?|\s+and\s+(?=to\b)", plain[match.end():]):
                wanted = content_stems(part) - OBJECT_GENERIC
                if len(wanted) < 2:
                    continue
                scored = [(len(wanted & content_stems(seg[2])), name, seg) for name, seg in segments]
                matching = [(n, name, seg) for n, name, seg in scored if n >= 2 and n >= 0.5 * len(wanted)]
                if not matching or any(seg[0] == claimed[0] for _, _, seg in matching):
                    continue
                _, name, (kind, cue, governed) = max(matching, key=lambda m: m[0])
                findings.append(Finding("source", sentence.line, f"says \"{claimed[1]}\" ({claimed[0]}) for \"{part.strip()}\" where {name} says \"{cue}\" ({kind}): \"{' '.join(governed.split())}\"", sentence.text, name))
    return findings


# ----------------------------------------------------------------------------- entry point


def check_briefs(paths: list[Path], library: list[LibraryDocument], reference: list[LibraryDocument] = ()) -> list[BriefReport]:
    """Check every brief in `paths` against `library` and against each other; one report per brief.

    The other briefs in the same folders are the project's own words: they are not compared for
    copied wording (a library document with a brief's file name is that brief, or a sibling), but
    they take part in the checks across briefs (figures, dates, strengths). `reference` documents
    (facts with their sources, such as thb-facts.md) are read like library documents for dates,
    titles and what a source says an event or decision did, but not for copied wording: a fact
    restated in a brief shares its names and short phrases with the fact."""
    checked = find_briefs(paths)
    siblings = {p.resolve() for folder in {c.parent for c in checked} for p in folder.glob("*.md")} - {c.resolve() for c in checked}
    briefs = [read_brief(p) for p in checked]
    everyone = briefs + [read_brief(p) for p in sorted(siblings)]
    names = {b.name for b in everyone}
    grams: dict[tuple[str, ...], str] = {}
    for doc in library:
        if doc.name in names:
            continue
        tokens = words(doc.text)
        for i in range(len(tokens) - RUN_WORDS + 1):
            grams.setdefault(tuple(tokens[i: i + RUN_WORDS]), doc.name)
    instruments = build_instruments(library, everyone)
    sources = source_documents(list(library) + list(reference), names)
    figures = check_figures(everyone)
    cross = check_cross_brief(everyone, sources)
    titled = check_titles(everyone, symbol_titles([(t, b.name) for b in everyone for t, _ in described_sites(b)] + [(s, d.name) for d in sources for s in d.sentences]))
    reports = []
    for brief in briefs:
        findings = check_copied(brief, grams) + check_modal(brief, instruments) + check_as_of(brief) + check_sources(brief, sources)
        findings += figures.get(brief.name, []) + cross.get(brief.name, []) + titled.get(brief.name, [])
        reports.append(BriefReport(str(brief.path), sorted(findings, key=lambda f: (f.line, f.check))))
    return reports
