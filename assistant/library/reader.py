"""Read-only access to a library for pipelines other than Beacon's own answerer.

The eval baselines (a naive dense pipeline, plain BM25) and the benchmarks read the same
chunks, vectors and BM25 index as `ask`, through this small public surface instead of the
store and index objects themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from assistant.library.catalogue import LexicalIndex
    from assistant.library.embedder import Embedder
    from assistant.library.store import ChunkStore


class LibraryReader:
    def __init__(self, store: ChunkStore, embedder: Embedder, lexical: LexicalIndex):
        self._store = store
        self._embedder = embedder
        self._lexical = lexical

    def chunks(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every chunk as (id, text, metadata)."""
        return self._store.scan()

    def chunk_count(self) -> int:
        return self._store.count()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Passage vectors of the library's embedding model (normalised)."""
        return self._embedder.embed(texts)

    def embed_question(self, text: str) -> np.ndarray:
        """A question's vector, as retrieval embeds it."""
        return self._embedder.embed_one(text)

    def embed_sentences(self, texts: list[str]) -> np.ndarray:
        """Vectors of short texts, cached across calls (answer sentences)."""
        return self._embedder.embed_cached(texts)

    def bm25(self, query: str, n: int) -> list[tuple[str, str, dict, float]]:
        """The BM25 top `n` as (id, text, metadata, score)."""
        return self._lexical.search(query, n)

    def bm25_size(self) -> int:
        return self._lexical.size

    def bm25_chunk_ids(self) -> list[str]:
        """The ids of the chunks BM25 holds at the store's current revision (to check that
        the keyword index and the store agree)."""
        return list(self._lexical.snapshot().ids)

    def load_models(self) -> None:
        """Load the embedding model and the question-side runtime now (start-up, not a query)."""
        self._embedder.load()
        self._embedder.load_query_runtime()


class BulkLoader:
    """Writes chunks whose vectors were computed elsewhere (a migration, a synthetic benchmark
    library) straight into the store, under its write lock; `finish` rebuilds BM25."""

    def __init__(self, store: ChunkStore, lexical: LexicalIndex):
        self._store = store
        self._lexical = lexical

    def write(self, documents: Iterator[tuple[list[str], list[str], list[dict], np.ndarray]]) -> None:
        """Each document as (chunk ids, texts, metadatas, vectors); one lock for the batch."""
        with self._store.write_lock():
            for ids, texts, metadatas, vectors in documents:
                self._store.write_document(ids, texts, metadatas, vectors)

    def finish(self) -> None:
        self._lexical.ensure_current()
