"""Two simple systems to measure Beacon against, over the same library and the same model.

They answer through the same `Answer` model so every metric treats all systems alike:

* `BM25Baseline`: BM25 over Beacon's own chunks; the answer is the opening of the best chunk.
* `NaiveDenseBaseline`: the LangChain RAG tutorial pipeline with extraction in place of the
  LLM: the documents re-split into 1000-character pieces (200 overlap), embedded with the same
  model, held in memory, searched by cosine; the answer is the three retrieved sentences most
  similar to the question.

Neither checks grounding, so neither refuses unless nothing at all is retrieved. That is the
point of the comparison: it shows what Beacon's refusals and sentence selection cost or buy.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from assistant.domain.models import Answer, AnswerSentence, Citation, Retrieved
from assistant.domain.text import split_sentences
from assistant.library.reader import LibraryReader

NOTHING_RETRIEVED = "Nothing was retrieved for this question."
MIN_OVERLAP_CHARS = 20  # a shorter repeated prefix is more likely chance than chunk overlap


def _timings(start: float, retrieved_at: float, done: float) -> dict[str, float]:
    return {
        "retrieve": round((retrieved_at - start) * 1000, 1),
        "answer": round((done - retrieved_at) * 1000, 1),
        "total": round((done - start) * 1000, 1),
    }


def _nothing(question: str, name: str, timings: dict[str, float]) -> Answer:
    return Answer(question=question, answer=NOTHING_RETRIEVED, refused=True, timings_ms=timings, answerer=name, refusal_reason=NOTHING_RETRIEVED)


class BM25Baseline:
    """BM25 top-k over the assistant's chunks; answers with the first sentences of the top chunk."""

    name = "bm25"

    def __init__(self, library: LibraryReader, answer_sentences: int = 2):
        self.library = library
        self.answer_sentences = answer_sentences

    def describe(self) -> str:
        return f"BM25 over the library's {self.library.bm25_size()} chunks; answer = first {self.answer_sentences} sentences of the top chunk; never refuses unless nothing matches."

    def ask(self, question: str, k: int) -> Answer:
        start = time.perf_counter()
        hits = self.library.bm25(question, k)
        retrieved_at = time.perf_counter()
        if not hits:
            return _nothing(question, self.name, _timings(start, retrieved_at, time.perf_counter()))
        _cid, text, meta, score = hits[0]
        chosen = split_sentences(text)[: self.answer_sentences] or [" ".join(text.split())]
        citation = Citation(
            n=1,
            doc_id=meta["doc_id"],
            title=meta.get("title", ""),
            source=meta.get("source", ""),
            locator=meta.get("locator", ""),
            text=text,
            score=round(score, 4),
            url=meta.get("url", ""),
        )
        retrieved = [
            Retrieved(doc_id=m["doc_id"], source=m.get("source", ""), locator=m.get("locator", ""), score=round(s, 4), title=m.get("title", ""))
            for _id, _text, m, s in hits
        ]
        # Quoted verbatim from the chunk it cites, hence "supported" by construction.
        sentences = [AnswerSentence(text=s, citations=[1], supported=True, support_score=1.0) for s in chosen]
        done = time.perf_counter()
        return Answer(
            question=question,
            answer=" ".join(f"{s} [1]" for s in chosen),
            refused=False,
            citations=[citation],
            retrieved=retrieved,
            timings_ms=_timings(start, retrieved_at, done),
            answerer=self.name,
            sentences=sentences,
        )


def join_chunks(texts: list[str]) -> str:
    """Rebuild a document from its chunks in order, dropping the overlap each chunk repeats."""
    parts: list[str] = []
    for text in texts:
        if parts:
            previous = parts[-1]
            for size in range(min(len(previous), len(text)), MIN_OVERLAP_CHARS - 1, -1):
                if previous.endswith(text[:size]):
                    text = text[size:].lstrip()
                    break
        if text:
            parts.append(text)
    return "\n\n".join(parts)


class NaiveDenseBaseline:
    """The tutorial pipeline: re-split the documents, embed, cosine top-k in a numpy matrix.

    The index is built on the first question (from the store's chunks, so the documents are
    exactly the ones Beacon answers from) and kept for the rest of the run.
    """

    name = "naive-dense"

    def __init__(self, library: LibraryReader, chunk_size: int = 1000, chunk_overlap: int = 200, answer_sentences: int = 3):
        self.library = library
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.answer_sentences = answer_sentences
        self._pieces: list[tuple[str, dict]] | None = None  # (text, document metadata)
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self.build_ms = 0.0
        self.documents = 0

    def build(self) -> None:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        start = time.perf_counter()
        chunks: dict[str, list[tuple[int, str]]] = defaultdict(list)
        metas: dict[str, dict] = {}
        for _id, text, meta in self.library.chunks():
            chunks[meta["doc_id"]].append((int(meta.get("position", 0)), text))
            metas.setdefault(meta["doc_id"], meta)
        splitter = RecursiveCharacterTextSplitter(chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap)
        pieces: list[tuple[str, dict]] = []
        for doc_id in sorted(chunks):
            document = join_chunks([text for _pos, text in sorted(chunks[doc_id], key=lambda row: row[0])])
            pieces.extend((piece, metas[doc_id]) for piece in splitter.split_text(document))
        self._matrix = self.library.embed([text for text, _meta in pieces])
        self._pieces = pieces
        self.documents = len(chunks)
        self.build_ms = round((time.perf_counter() - start) * 1000, 1)

    @property
    def piece_count(self) -> int:
        """How many pieces `build` split the library into (0 before it)."""
        return len(self._pieces or [])

    def describe(self) -> str:
        return (
            f"{self.documents} documents rebuilt from the store, split into {self.piece_count} pieces of ≤{self.chunk_size} characters "
            f"({self.chunk_overlap} overlap), embedded in {self.build_ms:.0f} ms; cosine top-k in memory; "
            f"answer = the {self.answer_sentences} retrieved sentences closest to the question; never refuses."
        )

    def ask(self, question: str, k: int) -> Answer:
        if self._pieces is None:
            self.build()
        assert self._pieces is not None
        start = time.perf_counter()
        if not self._pieces:
            return _nothing(question, self.name, _timings(start, start, time.perf_counter()))
        vector = self.library.embed_question(question)
        similarity = self._matrix @ vector
        top = [int(i) for i in np.argsort(-similarity, kind="stable")[:k]]
        retrieved_at = time.perf_counter()

        candidates: dict[str, int] = {}  # sentence -> first retrieved piece holding it (overlaps repeat sentences)
        for i in top:
            for sentence in split_sentences(self._pieces[i][0]):
                candidates.setdefault(sentence, i)
        answer = self._answer(question, vector, top, similarity, candidates)
        done = time.perf_counter()
        answer.timings_ms = _timings(start, retrieved_at, done)
        return answer

    def _answer(self, question: str, vector: np.ndarray, top: list[int], similarity: np.ndarray, candidates: dict[str, int]) -> Answer:
        retrieved = []
        for i in top:
            meta = self._pieces[i][1]
            retrieved.append(Retrieved(doc_id=meta["doc_id"], source=meta.get("source", ""), locator="", score=round(float(similarity[i]), 4), title=meta.get("title", "")))
        sentences = list(candidates)
        closeness = self.library.embed_sentences(sentences) @ vector if sentences else np.zeros(0)
        best = [int(j) for j in np.argsort(-closeness, kind="stable")[: self.answer_sentences]]
        numbers: dict[int, int] = {}
        chosen: list[AnswerSentence] = []
        for j in best:
            piece = candidates[sentences[j]]
            n = numbers.setdefault(piece, len(numbers) + 1)
            chosen.append(AnswerSentence(text=sentences[j], citations=[n], supported=True, support_score=round(float(closeness[j]), 4)))
        citations = []
        for piece, n in numbers.items():
            text, meta = self._pieces[piece]
            citations.append(
                Citation(n=n, doc_id=meta["doc_id"], title=meta.get("title", ""), source=meta.get("source", ""), locator="", text=text, score=round(float(similarity[piece]), 4), url=meta.get("url", ""))
            )
        return Answer(
            question=question,
            answer=" ".join(f"{s.text} [{s.citations[0]}]" for s in chosen),
            refused=False,
            citations=citations,
            retrieved=retrieved,
            answerer=self.name,
            sentences=chosen,
        )
