"""Ingestion: sources → bytes → structured text → chunks → embeddings → store.

Exact and idempotent: a document whose bytes and chunking are unchanged is skipped before it
is even parsed; a changed one replaces all of its chunks (embeddings of chunks whose text did
not change are reused); a failure in one source is reported and never stops the others.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from assistant.domain import versions
from assistant.domain.errors import BeaconError, IngestError, InvalidInput, NotFound, StoreError
from assistant.domain.models import Chunk, DocumentSummary, IngestReport, page_starts_field
from assistant.domain.poison import FLAGS_FIELD, passage_flags
from assistant.domain.settings import Settings
from assistant.domain.text import index_text
from assistant.library.documents import DocumentFiles
from assistant.library.embedder import Embedder
from assistant.library.store import ChunkStore
from ingest.chunking import chunk_document, chunking_signature, extracted_text
from ingest.loaders import load_bytes
from ingest.metadata import document_metadata
from ingest.sources import SourceRef, expand_sources, fetch_url, read_file

# The file name ending of each format's kept original.
ORIGINAL_SUFFIX = {"pdf": ".pdf", "docx": ".docx", "html": ".html", "markdown": ".md", "text": ".txt"}
SettleUploads = Callable[[Callable[[Path], "str | None"]], None]
ProgressCallback = Callable[[int, int, IngestReport], None]


GROUP_CHUNKS = 256  # new chunk texts embedded per encode call across documents


@dataclass
class Prepared:
    """A parsed, chunked document waiting for its embeddings and its write."""

    ref: SourceRef
    chunks: list[Chunk]
    texts: list[str]
    metadatas: list[dict]
    vectors: np.ndarray
    missing: list[int]  # rows of `vectors` still to embed
    updated: bool
    embed_ms: float = 0.0  # this document's share of its group's embedding time
    replaced: tuple[tuple[str, str], ...] = ()  # (sha256, text_sha256) of the version this one replaces


def text_sha(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class Ingestor:
    def __init__(self, settings: Settings, store: ChunkStore, embedder: Embedder, settle_uploads: SettleUploads | None = None):
        """`settle_uploads` finishes or undoes the UI uploads of writers killed half-way; it runs
        under the write lock before each change, told what the library holds for a file."""
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.settle_uploads = settle_uploads or (lambda stored_sha256: None)
        self.files = DocumentFiles(settings.paths)

    @property
    def _max_bytes(self) -> int:
        return int(self.settings.max_file_mb * 1024 * 1024)

    def ingest(self, inputs: list[str], on_progress: ProgressCallback | None = None, actor: str = "local") -> list[IngestReport]:
        """Add or update documents; each one written is audited with its write (as `actor`)."""
        refs, problems = expand_sources(inputs)
        reports = [IngestReport(source=src, status="failed", error=msg) for src, msg in problems]
        total = len(refs) + len(problems)
        for i, report in enumerate(reports, start=1):
            if on_progress:
                on_progress(i, total, report)

        def done(report: IngestReport) -> None:
            reports.append(report)
            if on_progress:
                on_progress(len(reports), total, report)

        downloads = self._download(refs)  # before the write lock: a slow server must not hold the library
        with self.store.write_lock(), ThreadPoolExecutor(1, thread_name_prefix="beacon-ingest-writer") as writer:
            self.settle_uploads(self._stored_sha256)
            self._begin_files()
            # Documents are parsed one by one but embedded in groups: small per-document encode
            # calls waste most of the model's batching. Each document is still written (and
            # rolled back) on its own, so a failure or a crash never leaves half a document.
            # A group's writes run in one writer thread while the next group is parsed and
            # embedded; reports keep the input order (a write is settled before anything after
            # it is reported), and a store failure still stops the batch.
            group: list[Prepared] = []
            pending: list[Future] = []

            def settle() -> None:
                while pending:
                    pending.pop().result()  # re-raises a StoreError from the writer

            def flush() -> None:
                ready, failed = self._embed_group(group)
                group.clear()
                settle()
                for report in failed:
                    done(report)
                if ready:
                    pending.append(writer.submit(self._write_group, ready, done, actor))

            for ref in refs:
                prepared = self._guarded(ref, lambda: self._prepare(ref, downloads))
                if isinstance(prepared, IngestReport):
                    flush()
                    settle()
                    done(prepared)
                    continue
                group.append(prepared)
                if sum(len(p.missing) for p in group) >= GROUP_CHUNKS:
                    flush()
            flush()
            settle()
            self._settle_files()  # not on an error: the next writer sweeps what this one left
        return reports

    @staticmethod
    def _guarded(ref: SourceRef, step):
        try:
            return step()
        except StoreError:
            raise  # the store itself is wrong (other model, locked): no document can succeed
        except BeaconError as exc:
            return IngestReport(source=ref.source, doc_id=ref.doc_id, status="failed", error=str(exc))
        except Exception as exc:  # a parser bug on one odd file must not stop the batch
            return IngestReport(source=ref.source, doc_id=ref.doc_id, status="failed", error=f"{type(exc).__name__}: {exc}")

    def _embed_group(self, group: list["Prepared"]) -> tuple[list["Prepared"], list[IngestReport]]:
        """Embed the group's new chunk texts in one call: (documents ready to write, failures)."""
        if not group:
            return [], []
        texts = [p.texts[i] for p in group for i in p.missing]
        started = time.perf_counter()
        try:
            fresh = self.embedder.embed(texts) if texts else None
        except BeaconError as exc:
            return [], [IngestReport(source=p.ref.source, doc_id=p.ref.doc_id, status="failed", error=str(exc)) for p in group]
        elapsed_ms = (time.perf_counter() - started) * 1000
        row = 0
        for p in group:
            p.embed_ms = round(elapsed_ms * len(p.missing) / len(texts), 1) if texts else 0.0
            for i in p.missing:
                p.vectors[i] = fresh[row]
                row += 1
        return list(group), []

    def _write_group(self, ready: list["Prepared"], done: Callable[[IngestReport], None], actor: str) -> None:
        for p in ready:
            done(self._guarded(p.ref, lambda p=p: self._write(p, actor)))

    def _download(self, refs: list[SourceRef]) -> dict[str, tuple[bytes, str] | Exception]:
        """Body and format (or the error, reported with its document) of every URL among the
        sources, each within its deadline; bodies stay in memory (each under BEACON_MAX_FILE_MB)."""
        downloads: dict[str, tuple[bytes, str] | Exception] = {}
        for ref in refs:
            if ref.is_url and ref.url not in downloads:
                try:
                    downloads[ref.url] = fetch_url(ref.url, self._max_bytes, self.settings.fetch_timeout_s, self.settings.allow_private_urls)
                except Exception as exc:  # reported by `_guarded` like any other failure of this document
                    downloads[ref.url] = exc
        return downloads

    def _prepare(self, ref: SourceRef, downloads: dict[str, tuple[bytes, str] | Exception]) -> "Prepared | IngestReport":
        doc_id = ref.doc_id
        if ref.is_url:
            downloaded = downloads[ref.url]
            if isinstance(downloaded, Exception):
                raise downloaded
            data, fmt = downloaded
        else:
            data, fmt = read_file(ref, self._max_bytes)
        sha = hashlib.sha256(data).hexdigest()
        signature = chunking_signature(self.settings.chunk_size, self.settings.chunk_overlap)
        existing = self.store.document_chunks(doc_id)
        if existing and all(
            m.get("sha256") == sha and m.get("chunker") == signature and m.get("n_chunks") == len(existing)
            for m in existing.values()
        ):
            title = next(iter(existing.values())).get("title", "")
            return IngestReport(source=ref.source, doc_id=doc_id, title=title, status="unchanged", chunks=len(existing))

        document = load_bytes(data, fmt)
        chunks = chunk_document(doc_id, document, self.settings.chunk_size, self.settings.chunk_overlap)
        if not chunks:
            raise IngestError("No text could be extracted from the document.")
        text, _ = extracted_text(document)
        kept_text_sha = self.files.save(data, sha, ORIGINAL_SUFFIX.get(fmt, ".bin"), text)
        meta = document_metadata(document.title, document.text, document.front_matter)
        doc_meta = {
            "doc_id": doc_id,
            "source": ref.source,
            "title": document.title or ref.source,
            "sha256": sha,
            "text_sha256": kept_text_sha,
            "format": fmt,
            "ingested_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "year": meta["year"],
            "doc_type": meta["doc_type"],
            "symbol": meta["symbol"],
            "url": meta["url"] or (ref.url or ""),
            "chunker": signature,
            "n_chunks": len(chunks),
            # A trainer's decision (`beacon docs trust`) outlives new versions of the document.
            "trusted": any(bool(m.get("trusted")) for m in existing.values()),
            # Status, relations and collections: what the front matter states, else what a
            # trainer set before (`beacon docs set`), which also outlives new versions.
            **versions.to_metadata({**self._kept_versions(existing), **self._stated_versions(document.front_matter, ref.source)}),
        }
        texts = [index_text(doc_meta["title"], c.heading, c.text) for c in chunks]
        shas = [text_sha(t) for t in texts]
        vectors, missing = self._reused_embeddings(shas, existing)
        metadatas = [
            {
                **doc_meta,
                "position": c.position,
                "locator": c.locator,
                "heading": c.heading,
                "page": c.page,
                "page_starts": page_starts_field(c.page_starts),
                "char_start": c.char_start,
                "char_end": c.char_end,
                "text_sha": s,
                FLAGS_FIELD: passage_flags(c.text),  # possibly poisoned: never quoted unless trusted
            }
            for c, s in zip(chunks, shas)
        ]
        replaced = tuple({(m.get("sha256", ""), m.get("text_sha256", "")) for m in existing.values()})
        return Prepared(ref, chunks, texts, metadatas, vectors, missing, updated=bool(existing), replaced=replaced)

    def _write(self, p: "Prepared", actor: str) -> IngestReport:
        status = self.store.write_document([c.id for c in p.chunks], [c.text for c in p.chunks], p.metadatas, p.vectors, actor)
        self._forget_files(p.replaced)
        return IngestReport(source=p.ref.source, doc_id=p.ref.doc_id, title=p.metadatas[0]["title"], status=status, chunks=len(p.chunks), embed_ms=p.embed_ms)

    def _reused_embeddings(self, shas: list[str], existing: dict[str, dict]) -> tuple[np.ndarray, list[int]]:
        """Vectors the store already holds for these chunk texts, and the rows still to embed."""
        known = {m.get("text_sha"): cid for cid, m in existing.items() if m.get("text_sha")}
        reuse = self.store.chunk_embeddings([known[s] for s in set(shas) if s in known])
        by_sha = {s: reuse[known[s]] for s in set(shas) if s in known and known[s] in reuse}
        vectors = np.zeros((len(shas), self.embedder.dimension), dtype=np.float32)
        missing = []
        for i, s in enumerate(shas):
            if s in by_sha:
                vectors[i] = by_sha[s]
            else:
                missing.append(i)
        return vectors, missing

    def remove(self, doc_id_or_source: str, actor: str = "local") -> tuple[str, int]:
        """Delete a document by id or by source (as given at ingest, or its resolved path), with
        Beacon's copy of it in uploads/, and audit it (as `actor`)."""
        with self.store.write_lock():
            self.settle_uploads(self._stored_sha256)
            self._begin_files()
            matches = self._matching(doc_id_or_source)
            removed = 0
            for doc in matches:
                versions = {(m.get("sha256", ""), m.get("text_sha256", "")) for m in self.store.document_chunks(doc.doc_id).values()}
                removed += self.store.delete_document(doc.doc_id, actor, self._own_copies(doc.source))
                self._forget_files(versions)
            self._settle_files()
            return ", ".join(d.doc_id for d in matches), removed

    def trust(self, doc_id_or_source: str, trusted: bool = True, actor: str = "local") -> list[tuple[str, bool]]:
        """Mark documents (by id, source, or the folder they were ingested from) trusted or not,
        auditing each change (as `actor`): (doc_id, whether it changed) per document."""
        with self.store.write_lock():
            return [(doc.doc_id, self.store.set_trusted(doc.doc_id, trusted, actor)) for doc in self._matching(doc_id_or_source)]

    def _matching(self, wanted: str) -> list[DocumentSummary]:
        """Documents with this id or source, or read from this path (a file or a folder)."""
        docs = self.store.list_documents()
        matches = [d for d in docs if d.doc_id == wanted or d.source == wanted]
        if not matches and not expand_sources([wanted])[1]:
            refs, _ = expand_sources([wanted])
            ids = {r.doc_id for r in refs}
            matches = [d for d in docs if d.doc_id in ids]
        if not matches:
            raise NotFound(f"No document with id or source {wanted!r}; `beacon docs list` shows what is in the library.")
        return matches

    @staticmethod
    def _stated_versions(front_matter: dict, source: str) -> dict:
        stated = {k: front_matter[k] for k in versions.FIELDS if front_matter.get(k) not in (None, "", [])}
        try:
            return versions.checked(stated, f"the front matter of {source}")
        except InvalidInput as exc:
            raise IngestError(str(exc)) from exc

    @staticmethod
    def _kept_versions(existing: dict[str, dict]) -> dict:
        first = next(iter(existing.values()), {})
        return {k: first[k] for k in versions.FIELDS if first.get(k)}

    def set_versions(self, doc_id_or_source: str, fields: dict, actor: str = "local") -> list[tuple[str, bool]]:
        """Set status, relations or collections (validated: `assistant.domain.versions.checked`)
        on documents by id, source or folder: (doc_id, whether it changed) per document."""
        stored = versions.to_metadata(versions.checked(fields))
        if not stored:
            raise InvalidInput("Nothing to set: give --status, --supersedes, --amends, --valid-from or --collection.")
        with self.store.write_lock():
            return [(doc.doc_id, self.store.set_fields(doc.doc_id, stored, actor)) for doc in self._matching(doc_id_or_source)]

    def _begin_files(self) -> None:
        """Start a change of the kept files (write lock held); if the last writer never finished
        its change (killed, or failed), first delete the files no stored chunk refers to. Not
        with a Chroma server: there is no lock, so another writer may be between keeping a
        version's files and storing its chunks."""
        if self.settings.server_mode:
            return
        if self.files.begin():
            self.files.sweep(*self.store.kept_file_hashes())

    def _settle_files(self) -> None:
        if not self.settings.server_mode:
            self.files.settled()

    def _forget_files(self, kept_versions) -> None:
        """Delete the kept original and text of document versions no stored chunk refers to."""
        for sha, text_sha in kept_versions:
            keep_original = bool(sha) and self.store.referenced("sha256", sha)
            keep_text = bool(text_sha) and self.store.referenced("text_sha256", text_sha)
            self.files.forget(None if keep_original else sha, None if keep_text else text_sha)

    def _stored_sha256(self, path: Path) -> str | None:
        """The sha256 the library holds for the document read from this file, if any."""
        refs, _ = expand_sources([str(path)])
        chunks = self.store.document_chunks(refs[0].doc_id) if refs else {}
        return next(iter(chunks.values())).get("sha256") if chunks else None

    def _own_copies(self, source: str) -> list[Path]:
        """Beacon's own copy of an uploaded document; files elsewhere are the user's."""
        uploads = self.settings.paths.uploads.resolve()
        path = Path(source).resolve()
        return [path] if path.parent == uploads else []
