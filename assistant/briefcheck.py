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
    date       the same event is dated differently across briefs
    strength   the same commitment is given a different strength in another brief
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from assistant.errors import InvalidInput

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
    (BINDING, r"shall|must|requir(?:e|es|ed|ing)|oblig(?:e|es|ed|ation|ations)|undertakes?|ha(?:s|ve) to"),
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
        quoted = instrument.quoted.get(number + para) or (instrument.quoted.get(number) if not para else None)
        return (quoted or []), {}
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


def check_scope(sentence: Sentence, ref: tuple[str, str, str, str], points: dict[str, str], instrument: Instrument) -> list[Finding]:
    if len(points) < 2 or ref[2] or ref[3]:
        return []
    others = {letter: set().union(*(content_stems(t) for l, t in points.items() if l != letter)) for letter in points}
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


def check_cross_brief(briefs: list[Brief]) -> dict[str, list[Finding]]:
    """The same statement in two briefs with a different date, or a different strength."""
    stated = []
    for brief in briefs:
        for sentence in brief.sentences:
            stems = content_stems(DAY_DATE_RE.sub(" ", sentence.text)) - set(MONTHS) - {m[:5] for m in MONTHS}
            days = {(d, m.group(3).lower(), m.group(4)) for m in DAY_DATE_RE.finditer(sentence.text) for d in m.group(1, 2) if d}
            symbols = set(re.findall(r"\b[A-Z]{2,}\.[A-Z]{2,}/\d+/\d+\b|\bPC\.DEC/\d+\b", sentence.text))
            stated.append((brief, sentence, stems, days, symbols, strength(sentence.text)))
    findings: dict[str, list[Finding]] = {}
    for brief, sentence, stems, days, symbols, duty in stated:
        for other, other_sentence, other_stems, other_days, other_symbols, other_duty in stated:
            if other is brief:
                continue
            shared = stems & other_stems
            similar = len(shared) >= 4 and len(shared) >= 0.5 * min(len(stems), len(other_stems))
            if similar and days and other_days and not days & other_days and {d[1:] for d in days} & {d[1:] for d in other_days}:
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


# ----------------------------------------------------------------------------- entry point


def check_briefs(paths: list[Path], library: list[LibraryDocument]) -> list[BriefReport]:
    """Check every brief in `paths` against `library` and against each other; one report per brief.

    The other briefs in the same folders are the project's own words: they are not compared for
    copied wording (a library document with a brief's file name is that brief, or a sibling), but
    they take part in the checks across briefs (figures, dates, strengths)."""
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
    figures = check_figures(everyone)
    cross = check_cross_brief(everyone)
    reports = []
    for brief in briefs:
        findings = check_copied(brief, grams) + check_modal(brief, instruments) + check_as_of(brief)
        findings += figures.get(brief.name, []) + cross.get(brief.name, [])
        reports.append(BriefReport(str(brief.path), sorted(findings, key=lambda f: (f.line, f.check))))
    return reports
