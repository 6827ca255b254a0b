"""Data that crosses module boundaries: chunks, documents, answers.

`Answer.model_dump()` is exactly what `beacon ask --json` prints; keep the field names stable,
other tools read them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Referral(BaseModel):
    """The card shown before the answer."""

    country: str
    emergency: str
    hotline: str = ""
    hotline_name: str = ""
    source_url: str = ""
    what_to_do: list[str]


def page_at(page: int | None, page_starts: list[tuple[int, int]], offset: int) -> int | None:
    """The page of `offset` in a text that starts on `page` and has later pages starting at
    `page_starts` ((offset, page) in order): a PDF chunk or section may run over a page break."""
    for start, number in page_starts:
        if start <= offset:
            page = number
    return page


def page_starts_field(page_starts: list[tuple[int, int]]) -> str:
    """`page_starts` as the store keeps it in a chunk's metadata: "412:5,930:6" ("" for none)."""
    return ",".join(f"{at}:{page}" for at, page in page_starts)


def parse_page_starts(value: str | None) -> list[tuple[int, int]]:
    """The (offset, page) pairs of a `page_starts_field` string."""
    pairs = []
    for item in (value or "").split(","):
        at, _, page = item.partition(":")
        if at.strip().isdigit() and page.strip().isdigit():
            pairs.append((int(at), int(page)))
    return pairs


class Chunk(BaseModel):
    """A piece of a document small enough to embed, with where it came from."""

    id: str
    doc_id: str
    position: int
    text: str
    locator: str = ""
    heading: str = ""
    page: int | None = None  # the PDF page `text` starts on
    page_starts: list[tuple[int, int]] = Field(default_factory=list)  # (offset in `text`, page) of each later page it runs onto
    char_start: int | None = None  # where `text` starts in the document's stored extracted text
    char_end: int | None = None


class DocumentMeta(BaseModel):
    """What Beacon knows about one source document."""

    doc_id: str
    source: str
    title: str
    sha256: str
    format: str
    ingested_at: str = ""
    year: int | None = None
    doc_type: str = ""
    symbol: str = ""
    url: str = ""
    trusted: bool = False  # a trainer vouched for it: its flagged passages may be quoted (`beacon docs trust`)
    status: Literal["in_force", "superseded", "historical"] = "in_force"
    supersedes: list[str] = Field(default_factory=list)  # doc ids or symbols of the texts it replaces
    amends: list[str] = Field(default_factory=list)  # ... or changes
    valid_from: str = ""  # when it took effect: YYYY, YYYY-MM or YYYY-MM-DD
    collections: list[str] = Field(default_factory=list)  # named sets a trainee can limit a chat to


class DocumentSummary(DocumentMeta):
    chunks: int
    flagged: int = 0  # chunks flagged as possibly poisoned at ingest (ingest/poison.py)


class IngestReport(BaseModel):
    """One line of `beacon ingest --json`."""

    source: str
    doc_id: str | None = None
    title: str | None = None
    status: Literal["added", "updated", "unchanged", "failed"]
    chunks: int = 0
    error: str | None = None
    embed_ms: float = Field(0.0, exclude=True)  # ms spent embedding its new chunks (its share of a batch); for benchmarks, not printed by `--json`


class Hit(BaseModel):
    """A retrieved chunk with its fused score and the metadata needed to cite it."""

    chunk_id: str
    doc_id: str
    source: str
    title: str
    locator: str
    text: str
    score: float
    dense_score: float | None = None
    url: str = ""
    doc_type: str = ""
    year: int | None = None
    page: int | None = None
    page_starts: str = ""  # later pages the chunk runs onto, as stored (`page_starts_field`)
    status: str = "in_force"  # in_force, superseded or historical (assistant.domain.versions)
    valid_from: str = ""
    char_start: int | None = None  # the chunk's span in the document's stored extracted text
    char_end: int | None = None


class Citation(BaseModel):
    n: int
    doc_id: str
    title: str
    source: str
    locator: str
    text: str
    score: float
    url: str = ""
    page: int | None = None  # PDF page of the cited passage
    char_start: int | None = None  # the passage's span in the document's stored extracted text
    char_end: int | None = None
    date: str = ""  # when the cited text took effect (valid_from, else its year)
    status: str = "in_force"  # in_force, superseded or historical
    newer: list[str] = Field(default_factory=list)  # "amended by …" / "superseded by …" notes from the library


class Retrieved(BaseModel):
    doc_id: str
    source: str
    locator: str
    score: float
    title: str = ""


class AnswerSentence(BaseModel):
    text: str
    citations: list[int]
    supported: bool
    support_score: float
    # Where the sentence (or, for an LLM sentence, the evidence it was checked against) is in
    # the cited document's stored extracted text: `beacon show DOC_ID --span START:END`.
    doc_id: str | None = None
    page: int | None = None
    locator: str | None = None
    char_start: int | None = None
    char_end: int | None = None
    quote: str | None = None  # the passage text at that span: the sentence itself when extractive


class Answer(BaseModel):
    """A grounded answer (or a refusal) with the citations its markers point to."""

    question: str
    answer: str
    refused: bool
    citations: list[Citation] = Field(default_factory=list)
    retrieved: list[Retrieved] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    answerer: str = "extractive"
    sentences: list[AnswerSentence] = Field(default_factory=list)
    refusal_reason: str | None = None
    confidence: float | None = None  # the grounding decision's confidence that the library answers the question
    grounding: dict[str, float] = Field(default_factory=dict)  # the signals that decision weighed
    uncovered: list[str] = Field(default_factory=list)  # parts of the question the quoted passages do not cover
    referral: Referral | None = None  # safety card shown before the answer when the question discloses danger


class Passage(BaseModel):
    """A place in a document's stored text, with a little context: what `beacon show` prints
    and the source viewer highlights."""

    doc_id: str
    title: str
    source: str
    page: int | None = None
    char_start: int
    char_end: int
    text: str
    before: str = ""
    after: str = ""
