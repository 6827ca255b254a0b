"""Hybrid retrieval: dense (Chroma) and BM25 candidates fused by reciprocal rank.

Dense search finds paraphrases; BM25 finds the exact symbols, names and numbers a legal
question hinges on. Near-duplicate chunks (overlaps, the same text ingested twice) are
suppressed so the top-k offers distinct evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assistant.answering.naming import DocumentName, document_names, named_documents
from assistant.answering.timeline import DEMOTION, asks_about_past, outdated_duplicates
from assistant.domain.models import Hit
from assistant.domain.text import guess_language, tokenize, words
from assistant.library.catalogue import LexicalIndex, Snapshot
from assistant.library.crosslingual import CrossLingualIndex
from assistant.library.embedder import Embedder
from assistant.library.store import ChunkStore

FILTER_KEYS = ("source", "doc_type", "year", "doc_id", "collection")  # a value may be a list of allowed values
OVERFETCH_MIN_SHARE = 0.1  # filters keeping at least this share of chunks post-filter an unfiltered query
OVERFETCH_MAX = 1000
# Up to this many chunks the dense query asks Chroma for every chunk and keeps the best: its
# HNSW search is approximate, and on a small library the same question in another process
# could miss a top-30 chunk (measured: 1 of 200 queries on the 302-chunk default library),
# so an answer could change after a restart. Asking for all of them makes the search exact.
EXHAUSTIVE_UP_TO = 1000
NAMED_DENSE_MAX = 2000  # chunks of a named document scored by MiniLM when the e5 index is not built


@dataclass
class Retrieval:
    """What a question retrieved, plus what the answerer reuses (no second embedding)."""

    question: str
    hits: list[Hit]
    query_vector: np.ndarray
    filters: dict[str, Any] = field(default_factory=dict)
    crosslingual: bool = False  # a non-English question: vectors and similarities are multilingual-e5's
    dense_top: list[float] = field(default_factory=list)  # the best dense similarities, best first
    lexical_best: float = 0.0  # best BM25 score over the score of a chunk holding every query term once

def chroma_where(filters: dict[str, Any]) -> dict | None:
    clauses = [{key: {"$in": list(value)} if isinstance(value, (list, tuple)) else value} for key, value in filters.items() if value not in (None, "")]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def shingles(text: str) -> set[tuple[str, ...]]:
    ws = words(text)
    return {tuple(ws[i : i + 3]) for i in range(max(len(ws) - 2, 1))}


def near_duplicate(a: set, b: set, threshold: float = 0.8) -> bool:
    if not a or not b:
        return False
    return len(a & b) / min(len(a), len(b)) >= threshold


class HybridRetriever:
    def __init__(
        self,
        store: ChunkStore,
        lexical: LexicalIndex,
        embedder: Embedder,
        candidates: int = 30,
        rrf_k: int = 60,
        max_per_document: int | None = None,
        crosslingual: CrossLingualIndex | None = None,
    ):
        self.store = store
        self.lexical = lexical
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.max_per_document = max_per_document
        self.crosslingual = crosslingual
        self._names: tuple[int | None, list[DocumentName]] = (None, [])

    def _document_names(self, index: Snapshot) -> list[DocumentName]:
        revision, names = self._names
        if revision != index.revision or index.revision is None:
            names = document_names(index.metas)
            self._names = (index.revision, names)
        return names

    def _named_vote(self, question: str, index: Snapshot, mask: np.ndarray | None, vector: np.ndarray, crosslingual: bool) -> tuple[set[str], list[str]]:
        """The best passages of the documents the question names ("under the CRC", "C182"),
        ranked within each by BM25 of the question without the naming words and by MiniLM
        similarity (e5 within a named document favoured its title pages, which repeat the
        name: measured 0.729 vs 0.700 containment on the development set): one more vote.
        Also returns the doc ids named by acronym, number or "the 1956 convention" (not by a
        date or a title word): their passages are offered before any other's."""
        named = named_documents(question, self._document_names(index))
        if not named.doc_ids:
            return set(), []
        scores: dict[str, float] = {}
        for doc_id in named.doc_ids:
            within = index.mask({"doc_id": doc_id})
            if mask is not None:
                within = within * mask
            rankings = [[cid for cid, *_ in index.search(named.rest, self.candidates, within)]]
            if crosslingual:  # the question vector is e5's
                rankings.append([cid for cid, _ in self.crosslingual.search(vector, self.candidates, within)])
            else:
                ids = [index.ids[i] for i in np.flatnonzero(within)[:NAMED_DENSE_MAX]]
                embeddings = self.store.chunk_embeddings(ids)
                rankings.append(sorted(embeddings, key=lambda cid: -float(np.dot(embeddings[cid], vector)))[: self.candidates])
            for ranking in rankings:
                for rank, cid in enumerate(ranking):
                    scores[cid] = scores.get(cid, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        return set(named.strong), sorted(scores, key=lambda cid: -scores[cid])[: self.candidates]

    def dense_candidates(self, vector: np.ndarray, filters: dict[str, Any], mask: np.ndarray | None, index: Snapshot) -> list:
        """Dense candidates (public so the tests can check them against Chroma's own exact
        and filtered queries; `retrieve` fuses them with other votes). A filter that keeps a fair share of the library is applied to an
        over-fetched unfiltered HNSW query (Chroma's own filtered query first collects every
        allowed id, which costs hundreds of ms at 100k chunks); a narrow filter, or too few
        survivors, goes through Chroma's `where`."""
        if mask is None:
            return self._query(vector, self.candidates, index)
        allowed = float(mask.mean()) if len(mask) else 0.0
        if allowed >= OVERFETCH_MIN_SHARE:
            n = min(int(self.candidates / allowed * 2) + 1, OVERFETCH_MAX)
            rows = index.rows
            kept = [(cid, sim) for cid, sim in self._query(vector, n, index) if cid in rows and mask[rows[cid]] > 0]
            if len(kept) >= self.candidates:
                return kept[: self.candidates]
        return self._query(vector, self.candidates, index, chroma_where(filters))

    def _query(self, vector: np.ndarray, n: int, index: Snapshot, where: dict | None = None) -> list[tuple[str, float]]:
        """The n nearest chunks; exact (every chunk asked for) on a library of up to
        EXHAUSTIVE_UP_TO chunks."""
        if index.size <= EXHAUSTIVE_UP_TO:
            return self.store.dense_query(vector, max(n, index.size), where)[:n]
        return self.store.dense_query(vector, n, where)

    def retrieve(self, question: str, k: int, filters: dict[str, Any] | None = None) -> Retrieval:
        filters = {key: v for key, v in (filters or {}).items() if key in FILTER_KEYS and v not in (None, "")}
        index = self.lexical.snapshot()  # one revision throughout: texts, metadata, masks, postings
        if "collection" in filters:  # Chroma filters the dense query by the collection's documents
            filters = {**{k: v for k, v in filters.items() if k != "collection"}, "doc_id": index.collection_members(filters["collection"]) or ["(none)"]}
        mask = index.mask(filters) if filters else None
        crosslingual = self.crosslingual is not None and guess_language(question) != "en"
        if crosslingual:
            vector = self.crosslingual.embed_query(question)
            dense = self.crosslingual.search(vector, self.candidates, mask)
            if mask is not None:  # its vectors may belong to another revision than `index`
                dense = [(cid, sim) for cid, sim in dense if cid in index.rows and mask[index.rows[cid]] > 0]
        else:
            vector = self.embedder.embed_one(question)
            dense = self.dense_candidates(vector, filters, mask, index)
        lexical = index.search(question, self.candidates, mask)
        # English questions: multilingual-e5 as one more dense vote when its index is built
        # (it finds the right article more often than MiniLM on trainees' paraphrases).
        multilingual: list[tuple[str, float]] = []
        if not crosslingual and self.crosslingual is not None and self.crosslingual.ready():
            multilingual = self.crosslingual.search(self.crosslingual.embed_query(question), self.candidates, mask)
            multilingual = [(cid, sim) for cid, sim in multilingual if cid in index.rows and (mask is None or mask[index.rows[cid]] > 0)]
        named_docs, named = self._named_vote(question, index, mask, vector, crosslingual)

        fused: dict[str, float] = {}
        rows: dict[str, tuple[str, dict]] = {}
        similarity: dict[str, float] = {}

        def vote(ranking: list[str]) -> None:
            for rank, cid in enumerate(ranking):
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (self.rrf_k + rank + 1)
                if cid not in rows and (content := index.content(cid)) is not None:
                    rows[cid] = content

        vote([cid for cid, _sim in dense])
        similarity.update(dense)
        # The votes that match the question's own words (BM25 and key-term coverage) count for
        # English questions only: an English library shares no words with a question in another
        # language but its names and numbers, which the naming vote weighs, so those votes would
        # rank passages by stray cognates and function words. (Development questions in French,
        # German and Russian: answer passage in the top 5 for 12 of 18 instead of 10, top 10 for
        # 15 instead of 11.) The BM25 search still runs for them: its best score is one of the
        # grounding decision's signals.
        surface_votes = not crosslingual
        if surface_votes:
            for cid, text, meta, _score in lexical:
                rows.setdefault(cid, (text, meta))
            vote([cid for cid, *_ in lexical])
        vote([cid for cid, _sim in multilingual])
        vote(named)
        # A chunk written by another process after the index was loaded: read it from the store.
        rows.update(self.store.chunk_contents([cid for cid in fused if cid not in rows]))
        fused = {cid: score for cid, score in fused.items() if cid in rows}
        # Third vote: how much of the question's key terms (IDF-weighted) each candidate covers.
        # BM25 rewards repeating one term; coverage rewards stating all of them.
        weights = {t: index.idf(t) for t in dict.fromkeys(tokenize(question))}
        if weights and surface_votes:
            coverage = index.coverage(weights, list(fused))
            for rank, cid in enumerate(sorted(coverage, key=lambda c: (-coverage[c], -fused[c]))):
                fused[cid] += 1.0 / (self.rrf_k + rank + 1)
        missing = [cid for cid in fused if cid not in similarity]
        if missing and crosslingual:
            similarity.update(self.crosslingual.similarities(vector, missing))
        elif missing:
            for cid, emb in self.store.chunk_embeddings(missing).items():
                similarity[cid] = float(np.dot(emb, vector))

        # A chunk of an amended or superseded text that a newer version repeats ranks below that
        # version's chunk, unless the question asks about a time (assistant/answering/timeline.py).
        if not asks_about_past(question):
            for old, new in outdated_duplicates({cid: rows[cid][1]["doc_id"] for cid in fused}, index.documents(), self.store.chunk_embeddings).items():
                fused[old] = min(fused[old], fused[new] * DEMOTION)
        best_possible = (1.0 + 2.0 * surface_votes + bool(multilingual) + bool(named)) / (self.rrf_k + 1)
        # A passage flagged at ingest as possibly poisoned (it tells the reader to avoid the
        # police, pay a fee, call a number…, or talks to the assistant: assistant/poison.py) is
        # never offered as evidence, nor counted in the answer's confidence, unless a trainer
        # marked its document trusted.
        for cid in [c for c in fused if rows[c][1].get("flags") and not rows[c][1].get("trusted")]:
            del fused[cid]
            similarity.pop(cid, None)
        hits: list[Hit] = []
        kept_shingles: list[set] = []
        per_document: dict[str, int] = {}
        # A question that names its document ("What does C189 say…", "under the 1956
        # convention") is answered from it: its passages come first, the others after them.
        for cid in sorted(fused, key=lambda c: (rows[c][1].get("doc_id") not in named_docs, -fused[c], c)):
            text, meta = rows[cid]
            # One long document must not fill every slot: the original source of a fact (a seed,
            # a treaty) deserves a place next to the brief that summarises it.
            if self.max_per_document and per_document.get(meta["doc_id"], 0) >= self.max_per_document:
                continue
            sh = shingles(text)
            if any(near_duplicate(sh, other) for other in kept_shingles):
                continue
            kept_shingles.append(sh)
            per_document[meta["doc_id"]] = per_document.get(meta["doc_id"], 0) + 1
            hits.append(
                Hit(
                    chunk_id=cid,
                    doc_id=meta["doc_id"],
                    source=meta.get("source", ""),
                    title=meta.get("title", ""),
                    locator=meta.get("locator", ""),
                    text=text,
                    score=round(fused[cid] / best_possible, 4),
                    dense_score=round(similarity.get(cid, 0.0), 4),
                    url=meta.get("url", ""),
                    doc_type=meta.get("doc_type", ""),
                    year=meta.get("year"),
                    page=meta.get("page"),
                    page_starts=meta.get("page_starts") or "",
                    status=meta.get("status") or "in_force",
                    valid_from=meta.get("valid_from") or "",
                    char_start=meta.get("char_start"),
                    char_end=meta.get("char_end"),
                )
            )
            if len(hits) >= k:
                break
        top = sorted(similarity.values(), reverse=True)[:5]
        lexical_best = lexical[0][3] / max(sum(weights.values()), 1e-9) if lexical and weights else 0.0
        return Retrieval(
            question=question,
            hits=hits,
            query_vector=vector,
            filters=filters,
            crosslingual=crosslingual,
            dense_top=top,
            lexical_best=round(lexical_best, 4),
        )
