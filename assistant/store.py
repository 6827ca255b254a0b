"""The chunk store: one Chroma collection, embedded (PersistentClient) or remote (HttpClient).

Documents are not stored separately: a document is the set of chunks sharing its `doc_id`, and
every chunk carries the document's metadata. Listing, change detection and deletion are all
derived from that, so there is no second registry that could drift out of step.

The collection's own metadata records the embedding model and dimension (a store opened with
another model is refused) and a `revision` counter bumped on every write, which lets readers
in other processes notice that their BM25 index is stale.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from assistant.errors import StoreError, StoreLocked, StoreMismatch
from assistant.models import DocumentSummary
from assistant.settings import Settings

PAGE = 5000  # rows per `get` page when scanning the whole collection

DOC_FIELDS = ("doc_id", "source", "title", "sha256", "format", "ingested_at", "year", "doc_type", "symbol", "url")


def clean_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """Chroma rejects None values; drop them (absence means unknown)."""
    return {k: v for k, v in meta.items() if v is not None}


class ChunkStore:
    def __init__(self, settings: Settings, model_name: str, dimension: int):
        self.settings = settings
        self.model_name = model_name
        self.dimension = dimension
        self._client = None
        self._collection = None

    # -- opening -----------------------------------------------------------------------------
    @property
    def location(self) -> str:
        s = self.settings
        if s.server_mode:
            return f"{'https' if s.chroma_ssl else 'http'}://{s.chroma_host}:{s.chroma_port}"
        return str(s.data_dir / "chroma")

    def _make_client(self):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        s = self.settings
        try:
            if s.server_mode:
                return chromadb.HttpClient(host=s.chroma_host, port=s.chroma_port, ssl=s.chroma_ssl, settings=chroma_settings)
            s.data_dir.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(s.data_dir / "chroma"), settings=chroma_settings)
        except Exception as exc:  # chromadb raises plain ValueError/ConnectionError here
            hint = (
                "check that `chroma run` is serving there and BEACON_CHROMA_HOST/BEACON_CHROMA_PORT are right"
                if s.server_mode
                else "check that BEACON_DATA_DIR is a writable folder"
            )
            raise StoreError(f"Cannot open the Chroma store at {self.location}: {exc}; {hint}.") from exc

    @property
    def collection(self):
        if self._collection is None:
            self._client = self._make_client()
            try:
                col = self._client.get_or_create_collection(
                    self.settings.collection,
                    embedding_function=None,  # Beacon embeds itself; Chroma's default would download a model
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"embed_model": self.model_name, "embed_dim": self.dimension, "revision": 0},
                )
            except Exception as exc:
                raise StoreError(f"Cannot open collection {self.settings.collection!r} at {self.location}: {exc}") from exc
            meta = col.metadata or {}
            if meta.get("embed_model") != self.model_name or meta.get("embed_dim") != self.dimension:
                raise StoreMismatch(
                    f"The store at {self.location} (collection {self.settings.collection!r}) was indexed with "
                    f"{meta.get('embed_model')!r} ({meta.get('embed_dim')} dimensions), not {self.model_name!r} "
                    f"({self.dimension}). Re-index: `beacon --data-dir NEW_DIR ingest ...` into a new data dir "
                    "(or BEACON_COLLECTION=new-name), or delete the old store folder and ingest again."
                )
            self._collection = col
        return self._collection

    def _fresh_metadata(self) -> dict[str, Any]:
        return self._client.get_collection(self.settings.collection, embedding_function=None).metadata or {}

    @property
    def revision(self) -> int:
        """Write counter shared by every process using this collection."""
        self.collection
        return int(self._fresh_metadata().get("revision", 0))

    def _bump_revision(self) -> None:
        meta = dict(self._fresh_metadata())
        meta["revision"] = int(meta.get("revision", 0)) + 1
        self.collection.modify(metadata=meta)

    # -- writing -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Only one writer at a time on an embedded store (a Chroma server serialises itself)."""
        if self.settings.server_mode:
            yield
            return
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.settings.data_dir / "write.lock"
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise StoreLocked(
                    f"The library at {self.settings.data_dir} is being changed by {holder}; wait for it to "
                    "finish and try again (questions can still be asked meanwhile)."
                ) from exc
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()}")
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)

    def document_chunks(self, doc_id: str) -> dict[str, dict[str, Any]]:
        """Chunk id -> metadata for every stored chunk of a document."""
        got = self.collection.get(where={"doc_id": doc_id}, include=["metadatas"])
        return dict(zip(got["ids"], got["metadatas"]))

    def chunk_embeddings(self, ids: list[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = self.collection.get(ids=ids, include=["embeddings"])
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(got["ids"], got["embeddings"])}

    def write_document(self, ids: list[str], texts: list[str], metadatas: list[dict], embeddings: np.ndarray) -> None:
        """Make the document's chunks exactly `ids`: upsert them, then drop any older chunk.

        If the upsert fails, chunks it added are removed again so the previous version stays
        whole; a process killed half-way leaves a document whose chunk count or hash does not
        match, which the next ingest detects and repairs.
        """
        if not ids:
            return
        doc_id = metadatas[0]["doc_id"]
        before = set(self.document_chunks(doc_id))
        try:
            for start in range(0, len(ids), PAGE):
                end = start + PAGE
                self.collection.upsert(
                    ids=ids[start:end],
                    documents=texts[start:end],
                    metadatas=[clean_metadata(m) for m in metadatas[start:end]],
                    embeddings=embeddings[start:end],
                )
        except Exception as exc:
            added = [i for i in ids if i not in before]
            with contextlib.suppress(Exception):
                if added:
                    self.collection.delete(ids=added)
            raise StoreError(f"Writing {doc_id} to the store failed and was rolled back: {exc}") from exc
        stale = sorted(before - set(ids))
        if stale:
            self.collection.delete(ids=stale)
        self._bump_revision()

    def delete_document(self, doc_id: str) -> int:
        ids = list(self.document_chunks(doc_id))
        if ids:
            self.collection.delete(ids=ids)
            self._bump_revision()
        return len(ids)

    # -- reading -----------------------------------------------------------------------------
    def count(self) -> int:
        return self.collection.count()

    def scan(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every chunk as (id, text, metadata), page by page."""
        total = self.collection.count()
        for offset in range(0, total, PAGE):
            got = self.collection.get(include=["documents", "metadatas"], limit=PAGE, offset=offset)
            yield from zip(got["ids"], got["documents"], got["metadatas"])

    def list_documents(self) -> list[DocumentSummary]:
        counts: dict[str, int] = defaultdict(int)
        metas: dict[str, dict[str, Any]] = {}
        total = self.collection.count()
        for offset in range(0, total, PAGE):
            got = self.collection.get(include=["metadatas"], limit=PAGE, offset=offset)
            for meta in got["metadatas"]:
                counts[meta["doc_id"]] += 1
                metas.setdefault(meta["doc_id"], meta)
        docs = [
            DocumentSummary(**{k: metas[d][k] for k in DOC_FIELDS if k in metas[d]}, chunks=counts[d]) for d in metas
        ]
        return sorted(docs, key=lambda d: (d.title.lower(), d.source))

    def dense_query(self, vector: np.ndarray, n: int, where: dict | None = None) -> list[tuple[str, float]]:
        """Nearest chunks as (id, cosine similarity). Texts and metadata are not fetched here:
        the BM25 index holds them in memory (reading them from Chroma tripled the query time)."""
        # Chroma returns fewer rows (none for an empty collection) when n exceeds the count.
        got = self.collection.query(query_embeddings=[vector.tolist()], n_results=n, where=where or None, include=["distances"])
        return [(i, 1.0 - float(d)) for i, d in zip(got["ids"][0], got["distances"][0])]

    def chunk_contents(self, ids: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        if not ids:
            return {}
        got = self.collection.get(ids=ids, include=["documents", "metadatas"])
        return {i: (t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])}
