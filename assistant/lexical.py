"""BM25 over the chunk store, persisted beside it and rebuilt only when the store changed.

The index is tagged with the store's revision; a reader that finds the store at another
revision rebuilds once (from the store itself, the single source of truth) and saves it.
"""

from __future__ import annotations

import json
import math
import shutil
import threading
from collections import Counter
from pathlib import Path

import numpy as np

from assistant.store import ChunkStore
from assistant.text import index_text, tokenize

INDEX_VERSION = 1


class LexicalIndex:
    def __init__(self, store: ChunkStore, folder: Path):
        self.store = store
        self.folder = folder
        self._lock = threading.Lock()
        self._revision: int | None = None
        self._bm25 = None
        self._ids: list[str] = []
        self._metas: list[dict] = []
        self._texts: list[str] = []
        self._df: dict[str, int] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    def ensure_current(self) -> None:
        revision = self.store.revision
        if revision == self._revision:
            return
        with self._lock:
            if revision == self._revision:
                return
            if not self._load(revision):
                self._build(revision)

    def _load(self, revision: int) -> bool:
        info_path = self.folder / "index.json"
        if not info_path.exists():
            return False
        try:
            info = json.loads(info_path.read_text())
            if info.get("revision") != revision or info.get("version") != INDEX_VERSION or info.get("collection") != self.store.settings.collection:
                return False
            import bm25s

            bm25 = bm25s.BM25.load(str(self.folder / "bm25")) if info["ids"] else None
        except (OSError, ValueError, KeyError):
            return False
        self._bm25, self._ids, self._metas, self._texts, self._df = bm25, info["ids"], info["metas"], info["texts"], info["df"]
        self._revision = revision
        return True

    def _build(self, revision: int) -> None:
        import bm25s

        ids, metas, texts, corpus = [], [], [], []
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
        tmp = self.folder.with_name(self.folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if bm25 is not None:
            bm25.save(str(tmp / "bm25"))
        info = {"version": INDEX_VERSION, "collection": self.store.settings.collection, "revision": revision, "ids": ids, "metas": metas, "texts": texts, "df": dict(df)}
        (tmp / "index.json").write_text(json.dumps(info))
        shutil.rmtree(self.folder, ignore_errors=True)
        tmp.rename(self.folder)
        self._bm25, self._ids, self._metas, self._texts, self._df = bm25, ids, metas, texts, dict(df)
        self._revision = revision

    # -- queries -----------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self._ids)

    def idf(self, token: str) -> float:
        """Inverse document frequency; a term the library never uses gets the maximum."""
        n = max(len(self._ids), 1)
        return math.log(1 + (n - self._df.get(token, 0) + 0.5) / (self._df.get(token, 0) + 0.5))

    def knows(self, token: str) -> bool:
        return token in self._df

    def search(self, query: str, n: int, mask: np.ndarray | None = None) -> list[tuple[str, str, dict, float]]:
        """Top chunks by BM25 as (id, text, metadata, score); `mask` limits them to allowed rows."""
        self.ensure_current()
        tokens = tokenize(query)
        if self._bm25 is None or not tokens or not any(t in self._df for t in tokens):
            return []
        k = min(n, len(self._ids))
        kwargs = {"weight_mask": mask.astype(np.float32)} if mask is not None else {}
        docs, scores = self._bm25.retrieve([tokens], k=k, show_progress=False, n_threads=1, **kwargs)
        return [
            (self._ids[i], self._texts[i], self._metas[i], float(s))
            for i, s in zip(docs[0], scores[0])
            if s > 0
        ]

    def mask(self, predicate) -> np.ndarray:
        self.ensure_current()
        return np.array([1.0 if predicate(m) else 0.0 for m in self._metas], dtype=np.float32)
