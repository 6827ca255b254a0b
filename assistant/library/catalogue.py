"""BM25 over the chunk store, persisted beside it and rebuilt only when the store changed.

The index is tagged with the store's revision; a reader that finds the store at another
revision rebuilds once (from the store itself, the single source of truth) and saves it.

Several processes share the saved index: each revision is a folder of its own (`r<N>`),
written under a unique temporary name and renamed into place whole, so a reader finds a
complete index or none; a reader that cannot load it (missing, removed meanwhile, partial)
builds its own. Older revisions are removed a while after a newer one is saved.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from assistant.domain.text import index_text, tokenize
from assistant.library.store import ChunkStore

INDEX_VERSION = 5  # 3: tokens without the added closed-class stopwords; 4: poison flags and trust kept; 5: page_starts kept
# Metadata the retriever needs per chunk (hits, citations, filters, index text); the rest
# (hashes, timestamps, chunker bookkeeping) stays in Chroma and is not held in memory.
OLD_INDEX_GRACE_S = 120  # a reader loading an older revision's folder has this long before it is removed
KEPT_FIELDS = (
    "doc_id", "source", "title", "locator", "heading", "url", "doc_type", "year", "symbol", "flags", "trusted", "page", "page_starts", "char_start",
    "char_end", "status", "valid_from", "supersedes", "amends", "collections",
)


def slim(metas: list[dict]) -> list[dict]:
    """Kept fields only, each distinct value stored once (a document's title, source and URL
    repeat in every one of its chunks): a third of the index's memory at 100k chunks."""
    pool: dict = {}
    return [{k: pool.setdefault(v, v) for k in KEPT_FIELDS if (v := m.get(k)) is not None} for m in metas]


class LexicalIndex:
    def __init__(self, store: ChunkStore, folder: Path):
        self.store = store
        self.folder = folder
        self._lock = threading.Lock()
        self._snapshot = Snapshot(None, None, [], [], [], {})

    # -- lifecycle ---------------------------------------------------------------------------
    def ensure_current(self) -> None:
        revision = self.store.refresh()
        if revision == self._snapshot.revision:
            return
        with self._lock:
            if revision == self._snapshot.revision:
                return
            if not self._load(revision):
                self._build()

    def _collection_id(self) -> str:
        """Revisions count from 0 again in a collection created anew: its index must not be reused."""
        return str(self.store.collection.id)

    def _saved(self, revision: int) -> Path:
        return self.folder / f"r{revision}"

    def _load(self, revision: int) -> bool:
        folder = self._saved(revision)
        try:
            info = json.loads((folder / "index.json").read_text())
            if info.get("version") != INDEX_VERSION or info.get("collection_id") != self._collection_id():
                return False
            import bm25s

            bm25 = bm25s.BM25.load(str(folder / "bm25")) if info["ids"] else None
        except Exception:  # absent, removed meanwhile or unreadable: this reader builds its own
            return False
        self._install(revision, bm25, info["ids"], info["metas"], info["texts"], info["df"])
        return True

    def _build(self) -> None:
        import bm25s

        ids, metas, texts, corpus = [], [], [], []
        with self.store.consistent_read() as revision:  # no writer meanwhile: one revision, whole documents
            for chunk_id, text, meta in self.store.scan():
                ids.append(chunk_id)
                metas.append(meta)
                texts.append(text)
                corpus.append(tokenize(index_text(meta.get("title", ""), meta.get("heading", ""), text)))
        df = Counter(token for tokens in corpus for token in set(tokens))
        bm25 = None
        if ids:
            bm25 = bm25s.BM25()
            bm25.index([tokens or ["∅"] for tokens in corpus], show_progress=False)
        self._install(revision, bm25, ids, metas, texts, dict(df))
        info = {"version": INDEX_VERSION, "collection_id": self._collection_id(), "revision": revision, "ids": ids, "metas": slim(metas), "texts": texts, "df": dict(df)}
        self.save(revision, bm25, info)

    def save(self, revision: int, bm25, info: dict) -> None:
        """Save for the other processes; losing the race to another builder of the same
        revision (or failing to write) is harmless: this process has its index in memory.
        Public only so that the crash tests can kill a process while it saves (tests/test_crash.py)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            tmp.mkdir()
            if bm25 is not None:
                bm25.save(str(tmp / "bm25"))
            (tmp / "index.json").write_text(json.dumps(info))
            os.rename(tmp, self._saved(revision))  # fails if another process saved this revision first
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
        self._remove_old(revision)

    def _remove_old(self, revision: int) -> None:
        """Remove older revisions (and temp folders of killed builders) once nobody can still be loading them."""
        cutoff = time.time() - OLD_INDEX_GRACE_S
        for path in self.folder.iterdir():
            if path.name.startswith("r") and path.name[1:].isdigit() and int(path.name[1:]) >= revision:
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
            except OSError:
                continue

    def _install(self, revision: int, bm25, ids: list[str], metas: list[dict], texts: list[str], df: dict[str, int]) -> None:
        self._snapshot = Snapshot(revision, bm25, ids, slim(metas), texts, df)  # one assignment: readers see old or new

    def snapshot(self) -> Snapshot:
        """The index at the store's current revision. A retrieval uses one snapshot throughout,
        so an ingest finishing meanwhile (another thread swaps in a new one) cannot mix rows
        of two revisions."""
        self.ensure_current()
        return self._snapshot

    # -- shortcuts to the current snapshot (a retrieval takes one `snapshot()` and uses it) --------
    @property
    def size(self) -> int:
        return self._snapshot.size

    def idf(self, token: str) -> float:
        return self._snapshot.idf(token)

    def knows(self, token: str) -> bool:
        return self._snapshot.knows(token)

    def search(self, query: str, n: int, mask: np.ndarray | None = None) -> list[tuple[str, str, dict, float]]:
        return self.snapshot().search(query, n, mask)


class Snapshot:
    """The BM25 index of one store revision: chunk ids, texts, metadata and postings. Never
    changed once built (only its cache of filter masks grows)."""

    def __init__(self, revision: int | None, bm25, ids: list[str], metas: list[dict], texts: list[str], df: dict[str, int]):
        self.revision, self._bm25, self.ids, self.metas, self.texts, self._df = revision, bm25, ids, metas, texts, df
        self._documents: dict[str, dict] | None = None
        self.rows = {chunk_id: row for row, chunk_id in enumerate(ids)}  # chunk id -> row (of `mask` too)
        self._masks: dict[tuple, np.ndarray] = {}
        self._masks_lock = threading.Lock()

    @property
    def size(self) -> int:
        return len(self.ids)

    def idf(self, token: str) -> float:
        """Inverse document frequency; a term the library never uses gets the maximum."""
        n = max(len(self.ids), 1)
        return math.log(1 + (n - self._df.get(token, 0) + 0.5) / (self._df.get(token, 0) + 0.5))

    def knows(self, token: str) -> bool:
        return token in self._df

    def search(self, query: str, n: int, mask: np.ndarray | None = None) -> list[tuple[str, str, dict, float]]:
        """Top chunks by BM25 as (id, text, metadata, score); `mask` limits them to allowed rows."""
        tokens = tokenize(query)
        if self._bm25 is None or not tokens or not any(t in self._df for t in tokens):
            return []
        # Scores straight from the index (bm25s' `retrieve` adds a thread pool and a progress
        # bar per call: ~2 ms of a 3 ms search).
        scores = self._bm25.get_scores_from_ids(self._bm25.get_tokens_ids(tokens), weight_mask=mask)
        k = min(n, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((top, -scores[top]))]
        return [(self.ids[i], self.texts[i], self.metas[i], float(scores[i])) for i in top if scores[i] > 0]

    def content(self, chunk_id: str) -> tuple[str, dict] | None:
        """(text, metadata) of a chunk of the loaded revision, None if it has no such chunk."""
        row = self.rows.get(chunk_id)
        return None if row is None else (self.texts[row], self.metas[row])

    def coverage(self, weights: dict[str, float], chunk_ids: list[str]) -> dict[str, float]:
        """Sum of the weights of the query tokens each chunk contains (title and heading included).

        Read from the BM25 index's token -> chunks postings (sorted row numbers) instead of
        re-tokenizing the candidates' text on every question.
        """
        rows = np.array([self.rows.get(cid, -1) for cid in chunk_ids], dtype=np.int64)
        total = np.zeros(len(chunk_ids), dtype=np.float64)
        if self._bm25 is not None and len(rows):
            vocab, indptr, indices = self._bm25.vocab_dict, self._bm25.scores["indptr"], self._bm25.scores["indices"]
            for token, weight in weights.items():
                token_id = vocab.get(token)
                if token_id is None:
                    continue
                postings = indices[indptr[token_id] : indptr[token_id + 1]]
                if not len(postings):
                    continue
                at = np.minimum(np.searchsorted(postings, rows), len(postings) - 1)
                total += weight * (postings[at] == rows)
        return dict(zip(chunk_ids, total.tolist()))

    def collection_members(self, name: str) -> list[str]:
        """The doc ids of a collection (as of this revision)."""
        return sorted({m["doc_id"] for m in self.metas if name in (m.get("collections") or "").split(",")})

    def documents(self) -> dict[str, dict]:
        """Doc id -> the document-level metadata of its first chunk (title, symbol, year,
        status, relations): what answers need to say a cited text was superseded or amended."""
        if self._documents is None:
            found: dict[str, dict] = {}
            for m in self.metas:
                found.setdefault(m["doc_id"], m)
            self._documents = found
        return self._documents

    def mask(self, filters: dict[str, object]) -> np.ndarray:
        """1.0 for the chunks whose metadata equals every filter value, else 0.0 (cached)."""
        key = tuple(sorted((k, repr(v)) for k, v in filters.items()))
        cached = self._masks.get(key)
        if cached is None:
            keep = np.ones(len(self.metas), dtype=bool)
            for field, value in filters.items():
                if field == "collection":  # a chunk's collections are stored comma-joined
                    keep &= np.array([value in (m.get("collections") or "").split(",") for m in self.metas], dtype=bool)
                    continue
                column = np.array([m.get(field) for m in self.metas], dtype=object)
                keep &= np.isin(column, list(value)) if isinstance(value, (list, tuple)) else column == value
            cached = keep.astype(np.float32)
            with self._masks_lock:
                if len(self._masks) >= 64:
                    self._masks.pop(next(iter(self._masks)))
                self._masks[key] = cached
        return cached
