"""The chunk store: one Chroma collection, embedded (PersistentClient) or remote (HttpClient).

Documents are not stored separately: a document is the set of chunks sharing its `doc_id`, and
every chunk carries the document's metadata. Listing, change detection and deletion are all
derived from that, so there is no second registry that could drift out of step.

The collection's own metadata records the embedding model and dimension (a store opened with
another model is refused) and a `revision` counter bumped on every write, which lets readers
in other processes notice that their BM25 index is stale.

Crash safety and other processes (embedded store):
- Every change of a document (write or removal) is one journaled step: a write-ahead record
  (`PendingChanges`) is saved before the store is touched and deleted once the chunks, the
  revision, the audit entry and the document's file in uploads/ all agree. Whoever takes the
  write lock next (or a reader that finds the lock free) finishes a removal, finishes a write
  whose chunks are all stored, and undoes one that is not, so a SIGKILL at any point leaves
  no document that search, `docs list` and the audit log disagree about.
- Chroma keeps its vector index in each process's memory and does not see other processes'
  writes (their new ids fail with "Error finding id"), so when the revision moved the store
  is opened again (a new Chroma system; the old one is closed once no thread uses it).
- Writers hold `commit.lock` exclusively while they change chunks and bump the revision;
  readers hold it shared while they reopen the store or read the whole library for the BM25
  index, so an index is always of one revision and never of half a document.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from assistant.domain import versions
from assistant.domain.errors import StoreError, StoreLocked, StoreMismatch
from assistant.domain.models import DocumentSummary
from assistant.domain.poison import FLAGS_FIELD
from assistant.domain.settings import Settings
from assistant.records.journal import AuditLog, PendingChanges, process_alive

PAGE = 5000  # rows per `get` page when scanning the whole collection

# What tells a write's chunks from the version before it (a write that stored all of them is finished, not undone)
WRITE_STAMP = ("sha256", "ingested_at", "chunker", "n_chunks")
STALE_VECTOR_INDEX = "Error finding id"  # Chroma, asked for ids another process added after this one opened the store

DOC_FIELDS = ("doc_id", "source", "title", "sha256", "format", "ingested_at", "year", "doc_type", "symbol", "url", "trusted")


def clean_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """Chroma rejects None values; drop them (absence means unknown)."""
    return {k: v for k, v in meta.items() if v is not None}


class _Handle:
    """One opened Chroma system and its collection, at the revision it was opened (or last
    written) at; retired when the store is reopened, closed when no thread uses it any more."""

    def __init__(self, system, client, collection, revision: int):
        self.system, self.client, self.collection, self.revision = system, client, collection, revision
        self.users = 0
        self.retired = False

    def close(self) -> None:
        if self.system is not None:
            with contextlib.suppress(Exception):
                self.system.stop()


class ChunkStore:
    def __init__(self, settings: Settings, model_name: str, dimension: int):
        self.settings = settings
        self.model_name = model_name
        self.dimension = dimension
        self._handle: _Handle | None = None
        self._handle_lock = threading.Lock()
        self.pending = PendingChanges(settings.paths.pending)
        self.audit = AuditLog(settings.paths.audit_log)

    # -- opening -----------------------------------------------------------------------------
    @property
    def location(self) -> str:
        s = self.settings
        if s.server_mode:
            return f"{'https' if s.chroma_ssl else 'http'}://{s.chroma_host}:{s.chroma_port}"
        return str(s.paths.chroma)

    def _make_client(self):
        """(client, system): in embedded mode a Chroma system of this store's own, never the
        one chromadb caches per path (it would keep another opening's stale vector index)."""
        import chromadb
        from chromadb.api.shared_system_client import SharedSystemClient
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        s = self.settings
        try:
            if s.server_mode:
                return chromadb.HttpClient(host=s.chroma_host, port=s.chroma_port, ssl=s.chroma_ssl, settings=chroma_settings), None
            s.data_dir.mkdir(parents=True, exist_ok=True)
            path = str(s.paths.chroma)
            for cache in (SharedSystemClient._identifier_to_system, SharedSystemClient._identifier_to_refcount):
                cache.pop(path, None)
            client = chromadb.PersistentClient(path=path, settings=chroma_settings)
            system = client._system
            for cache in (SharedSystemClient._identifier_to_system, SharedSystemClient._identifier_to_refcount):
                cache.pop(client._identifier, None)
            return client, system
        except Exception as exc:  # chromadb raises plain ValueError/ConnectionError here
            hint = (
                "check that `chroma run` is serving there and BEACON_CHROMA_HOST/BEACON_CHROMA_PORT are right"
                if s.server_mode
                else "check that BEACON_DATA_DIR is a writable folder"
            )
            raise StoreError(f"Cannot open the Chroma store at {self.location}: {exc}; {hint}.") from exc

    def _open(self) -> _Handle:
        client, system = self._make_client()
        try:
            col = client.get_or_create_collection(
                self.settings.collection,
                embedding_function=None,  # Beacon embeds itself; Chroma's default would download a model
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embed_model": self.model_name, "embed_dim": self.dimension, "revision": 0},
            )
        except Exception as exc:
            _Handle(system, client, None, 0).close()
            raise StoreError(f"Cannot open collection {self.settings.collection!r} at {self.location}: {exc}") from exc
        meta = col.metadata or {}
        if meta.get("embed_model") != self.model_name or meta.get("embed_dim") != self.dimension:
            _Handle(system, client, col, 0).close()
            raise StoreMismatch(
                f"The store at {self.location} (collection {self.settings.collection!r}) was indexed with "
                f"{meta.get('embed_model')!r} ({meta.get('embed_dim')} dimensions), not {self.model_name!r} "
                f"({self.dimension}). Re-index: `beacon --data-dir NEW_DIR ingest ...` into a new data dir "
                "(or BEACON_COLLECTION=new-name), or delete the old store folder and ingest again."
            )
        return _Handle(system, client, col, int(meta.get("revision", 0)))

    def _current(self) -> _Handle:
        with self._handle_lock:
            if self._handle is None:
                self._handle = self._open()
            return self._handle

    @property
    def collection(self):
        return self._current().collection

    @contextlib.contextmanager
    def _using(self) -> Iterator[_Handle]:
        """The current opening, kept open until the caller is done with it."""
        with self._handle_lock:
            if self._handle is None:
                self._handle = self._open()
            handle = self._handle
            handle.users += 1
        try:
            yield handle
        finally:
            with self._handle_lock:
                handle.users -= 1
                done = handle.retired and handle.users == 0
            if done:
                handle.close()

    def _fresh_metadata(self) -> dict[str, Any]:
        with self._using() as handle:
            return handle.client.get_collection(self.settings.collection, embedding_function=None).metadata or {}

    @property
    def revision(self) -> int:
        """Write counter shared by every process using this collection."""
        return int(self._fresh_metadata().get("revision", 0))

    def bump_revision(self) -> None:
        """Count one change of the library (every process reopens on a new revision). A step of
        each write, taken under the write lock; public only so that the crash tests can kill a
        writer right before or after it (tests/test_crash.py), not for callers to use."""
        with self._using() as handle:
            meta = dict(self._fresh_metadata())
            meta["revision"] = int(meta.get("revision", 0)) + 1
            handle.collection.modify(metadata=meta)
            handle.revision = meta["revision"]  # this process wrote it: its opening is current

    def _reopen_if_changed(self) -> int:
        """Reopen the embedded store when another process changed it; the revision of the
        opening now in use. Call with `commit.lock` held (shared is enough)."""
        revision = self.revision
        if self.settings.server_mode or revision == self._current().revision:
            return revision
        fresh = self._open()
        with self._handle_lock:
            old, self._handle = self._handle, fresh
            old.retired = True
            done = old.users == 0
        if done:
            old.close()
        return fresh.revision

    def refresh(self) -> int:
        """The store's revision, after finishing what a killed writer left pending (when no
        writer is at work) and reopening the store if another process changed it."""
        if not self.settings.server_mode and self.pending.any():
            with contextlib.suppress(StoreLocked), self.write_lock():
                pass  # taking the lock finishes what is pending
        revision = self.revision
        if self.settings.server_mode or revision == self._current().revision:
            return revision
        with self._commit_lock(shared=True):
            return self._reopen_if_changed()

    @contextlib.contextmanager
    def consistent_read(self) -> Iterator[int]:
        """No writer changes the store while this is held; yields the revision of what is read."""
        with self._commit_lock(shared=True):
            yield self._reopen_if_changed()

    @contextlib.contextmanager
    def _commit_lock(self, shared: bool = False) -> Iterator[None]:
        if self.settings.server_mode:
            yield
            return
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.settings.paths.commit_lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self, read):
        """`read(collection)`, retried once on a reopened store when Chroma does not know an id
        another process added after this one opened it."""
        for attempt in (1, 2):
            with self._using() as handle:
                try:
                    return read(handle.collection)
                except Exception as exc:
                    if attempt == 2 or self.settings.server_mode or STALE_VECTOR_INDEX not in str(exc):
                        raise
            with self._commit_lock(shared=True):
                with self._handle_lock:
                    self._handle.revision = -1  # force the reopen
                self._reopen_if_changed()

    # -- writing -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Only one writer at a time on an embedded store (a Chroma server serialises itself).
        The holder first reopens a store another process changed, then finishes or undoes any
        change a killed writer left pending."""
        if self.settings.server_mode:
            self._recover()
            yield
            return
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.settings.paths.write_lock
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
                with self._commit_lock(shared=True):
                    self._reopen_if_changed()
                self._recover()
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)

    def document_chunks(self, doc_id: str) -> dict[str, dict[str, Any]]:
        """Chunk id -> metadata for every stored chunk of a document."""
        got = self._read(lambda col: col.get(where={"doc_id": doc_id}, include=["metadatas"]))
        return dict(zip(got["ids"], got["metadatas"]))

    def referenced(self, key: str, value: str) -> bool:
        """Whether any stored chunk has metadata `key` == `value` (a kept file still in use)."""
        got = self._read(lambda col: col.get(where={key: value}, limit=1, include=[]))
        return bool(got["ids"])

    def chunk_embeddings(self, ids: list[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = self._read(lambda col: col.get(ids=ids, include=["embeddings"]))
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(got["ids"], got["embeddings"])}

    def write_document(self, ids: list[str], texts: list[str], metadatas: list[dict], embeddings: np.ndarray, actor: str = "local") -> str:
        """Make the document's chunks exactly `ids` and audit it: "added" or "updated".

        Journaled (see the module's docstring): a failed write is undone at once; a killed one
        is finished by the next writer if every chunk was stored, else undone. Undoing restores
        the metadata (and, when the title changed, the vectors) of chunks the write reused.
        """
        if not ids:
            return "unchanged"
        doc_id = metadatas[0]["doc_id"]
        before = self.document_chunks(doc_id)
        kept = [i for i in ids if i in before]
        new_sha = {i: m.get("text_sha") for i, m in zip(ids, metadatas)}
        revectored = [i for i in kept if before[i].get("text_sha") != new_sha[i]]
        change = {
            "op": "write",
            "action": "updated" if before else "added",
            "doc_id": doc_id,
            "source": metadatas[0].get("source", ""),
            "actor": actor,
            "ids": ids,
            "stamp": {k: metadatas[0].get(k) for k in WRITE_STAMP},
            "previous": {i: before[i] for i in kept},
            "previous_vectors": {i: v.tolist() for i, v in self.chunk_embeddings(revectored).items()},
        }
        change["change"] = self.pending.begin(change)
        try:
            with self._commit_lock(), self._using() as handle:
                for start in range(0, len(ids), PAGE):
                    end = start + PAGE
                    handle.collection.upsert(
                        ids=ids[start:end],
                        documents=texts[start:end],
                        metadatas=[clean_metadata(m) for m in metadatas[start:end]],
                        embeddings=embeddings[start:end],
                    )
                stale = sorted(set(before) - set(ids))
                if stale:
                    handle.collection.delete(ids=stale)
                self.bump_revision()
        except Exception as exc:
            with contextlib.suppress(Exception):  # if undoing fails too, the next writer undoes it
                self._undo_write(change)
                self.pending.finish(change["change"])
            raise StoreError(f"Writing {doc_id} to the store failed and was rolled back: {exc}") from exc
        self._conclude(change)
        return change["action"]

    def delete_document(self, doc_id: str, actor: str = "local", files: list[Path] = ()) -> int:
        """Delete every chunk of a document and Beacon's own `files` of it, and audit it."""
        chunks = self.document_chunks(doc_id)
        if not chunks:
            return 0
        change = {
            "op": "remove",
            "action": "removed",
            "doc_id": doc_id,
            "source": next(iter(chunks.values())).get("source", ""),
            "actor": actor,
            "chunks": len(chunks),
            "files": [str(f) for f in files],
        }
        change["change"] = self.pending.begin(change)
        self._remove(change)
        self._conclude(change)
        return len(chunks)

    def set_trusted(self, doc_id: str, trusted: bool, actor: str = "local") -> bool:
        """Mark every chunk of a document trusted (or not) and audit it; False when it already
        was (nothing written). Journaled like a removal: a killed change is finished next time."""
        chunks = self.document_chunks(doc_id)
        if all(bool(m.get("trusted")) == trusted for m in chunks.values()):
            return False
        change = {
            "op": "trust",
            "action": "trusted" if trusted else "untrusted",
            "doc_id": doc_id,
            "source": next(iter(chunks.values())).get("source", ""),
            "actor": actor,
            "chunks": len(chunks),
            "trusted": trusted,
        }
        change["change"] = self.pending.begin(change)
        self._apply_trust(change)
        self._conclude(change)
        return True

    def set_fields(self, doc_id: str, fields: dict[str, str], actor: str = "local") -> bool:
        """Set document-level metadata (status, relations, collections: `assistant.domain.versions`)
        on every chunk and audit it; False when nothing changes. Journaled like trust."""
        chunks = self.document_chunks(doc_id)
        first = next(iter(chunks.values()), {})
        if not chunks or all(first.get(k, "") == v for k, v in fields.items()):
            return False
        change = {"op": "set", "action": "updated metadata", "doc_id": doc_id, "source": first.get("source", ""), "actor": actor,
                  "chunks": len(chunks), "fields": fields}
        change["change"] = self.pending.begin(change)
        self._apply_fields(change)
        self._conclude(change)
        return True

    def _apply_fields(self, change: dict) -> None:
        self._update_document(change["doc_id"], dict(change["fields"]))

    def _apply_trust(self, change: dict) -> None:
        self._update_document(change["doc_id"], {"trusted": change["trusted"]})

    def _update_document(self, doc_id: str, fields: dict) -> None:
        """Merge `fields` into the metadata of every chunk of a document, as one revision."""
        with self._commit_lock():
            ids = list(self.document_chunks(doc_id))
            with self._using() as handle:
                for start in range(0, len(ids), PAGE):
                    page = ids[start : start + PAGE]
                    handle.collection.update(ids=page, metadatas=[fields] * len(page))  # merged into each chunk's metadata
            self.bump_revision()

    def _remove(self, change: dict) -> None:
        with self._commit_lock():
            ids = list(self.document_chunks(change["doc_id"]))
            if ids:
                with self._using() as handle:
                    handle.collection.delete(ids=ids)
            self.bump_revision()
        for path in change["files"]:
            Path(path).unlink(missing_ok=True)

    def _conclude(self, change: dict, recovering: bool = False) -> None:
        """Audit a change that took effect (once, also when finishing it again) and close its record."""
        if not (recovering and self.audit.has_change(change["change"])):
            chunks = change.get("chunks", len(change.get("ids", ())))
            self.audit.record(change["actor"], change["action"], change["doc_id"], change["source"], chunks=chunks, change=change["change"])
        self.pending.finish(change["change"])

    def _stored_whole(self, change: dict) -> bool:
        got = self._read(lambda col: col.get(ids=change["ids"], include=["metadatas"]))
        stamp = change["stamp"]
        return len(got["ids"]) == len(change["ids"]) and all(m.get(k) == v for m in got["metadatas"] for k, v in stamp.items() if v is not None)

    def _undo_write(self, change: dict) -> None:
        previous, vectors = change["previous"], change.get("previous_vectors", {})
        with self._commit_lock(), self._using() as handle:
            added = [i for i in change["ids"] if i not in previous]
            for start in range(0, len(added), PAGE):
                handle.collection.delete(ids=added[start : start + PAGE])
            if previous:
                handle.collection.update(ids=list(previous), metadatas=[clean_metadata(m) for m in previous.values()])
            if vectors:
                handle.collection.update(ids=list(vectors), embeddings=[vectors[i] for i in vectors])
            self.bump_revision()

    def _recover(self) -> None:
        """Finish or undo the changes killed writers left pending (with the write lock held)."""
        for change in self.pending.records():
            if self.settings.server_mode and process_alive(int(change["change"].split("-")[1])):
                continue  # without a lock, another process's change may still be under way
            if change["op"] == "remove":
                self._remove(change)
            elif change["op"] == "trust":
                self._apply_trust(change)
            elif change["op"] == "set":
                self._apply_fields(change)
            elif self._stored_whole(change):
                with self._commit_lock():
                    stale = sorted(set(self.document_chunks(change["doc_id"])) - set(change["ids"]))
                    if stale:
                        with self._using() as handle:
                            handle.collection.delete(ids=stale)
                    self.bump_revision()
            else:
                self._undo_write(change)
                self.pending.finish(change["change"])
                continue
            self._conclude(change, recovering=True)

    # -- reading -----------------------------------------------------------------------------
    def count(self) -> int:
        return self._read(lambda col: col.count())

    def scan(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every chunk as (id, text, metadata), page by page."""
        total = self.count()
        for offset in range(0, total, PAGE):
            got = self._read(lambda col: col.get(include=["documents", "metadatas"], limit=PAGE, offset=offset))
            yield from zip(got["ids"], got["documents"], got["metadatas"])

    def kept_file_hashes(self) -> tuple[set[str], set[str]]:
        """The sha256 of every stored document version and of its kept text (the files in use)."""
        originals: set[str] = set()
        texts: set[str] = set()
        for offset in range(0, self.count(), PAGE):
            got = self._read(lambda col: col.get(include=["metadatas"], limit=PAGE, offset=offset))
            for meta in got["metadatas"]:
                originals.add(meta.get("sha256") or "")
                texts.add(meta.get("text_sha256") or "")
        return originals - {""}, texts - {""}

    def list_documents(self) -> list[DocumentSummary]:
        counts: dict[str, int] = defaultdict(int)
        flagged: dict[str, int] = defaultdict(int)
        metas: dict[str, dict[str, Any]] = {}
        total = self.count()
        for offset in range(0, total, PAGE):
            got = self._read(lambda col: col.get(include=["metadatas"], limit=PAGE, offset=offset))
            for meta in got["metadatas"]:
                counts[meta["doc_id"]] += 1
                flagged[meta["doc_id"]] += bool(meta.get(FLAGS_FIELD))
                metas.setdefault(meta["doc_id"], meta)
        docs = [
            DocumentSummary(**{k: metas[d][k] for k in DOC_FIELDS if k in metas[d]}, **versions.from_metadata(metas[d]), chunks=counts[d], flagged=flagged[d])
            for d in metas
        ]
        return sorted(docs, key=lambda d: (d.title.lower(), d.source))

    def dense_query(self, vector: np.ndarray, n: int, where: dict | None = None) -> list[tuple[str, float]]:
        """Nearest chunks as (id, cosine similarity). Texts and metadata are not fetched here:
        the BM25 index holds them in memory (reading them from Chroma tripled the query time)."""
        # Chroma returns fewer rows (none for an empty collection) when n exceeds the count.
        got = self._read(lambda col: col.query(query_embeddings=[vector.tolist()], n_results=n, where=where or None, include=["distances"]))
        return [(i, 1.0 - float(d)) for i, d in zip(got["ids"][0], got["distances"][0])]

    def chunk_contents(self, ids: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        if not ids:
            return {}
        got = self._read(lambda col: col.get(ids=ids, include=["documents", "metadatas"]))
        return {i: (t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])}

