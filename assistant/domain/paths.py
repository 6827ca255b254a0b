"""Every file and folder Beacon keeps under its data dir and cache dir, named in one place.

Modules ask `settings.paths` (or `Paths(data_dir)`) for a location instead of joining names
themselves, so the layout of a data dir can be read here and changed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    data_dir: Path
    cache_dir: Path | None = None
    users_override: Path | None = None

    def __post_init__(self):
        object.__setattr__(self, "data_dir", Path(self.data_dir))

    # -- the library ----------------------------------------------------------------------------
    @property
    def chroma(self) -> Path:
        """The embedded Chroma store."""
        return self.data_dir / "chroma"

    def lexical(self, store_key: str, collection: str) -> Path:
        """The BM25 index and chunk catalogue of one collection of one store (`local` or host-port)."""
        return self.data_dir / "bm25" / store_key / collection

    def multilingual(self, store_key: str, collection: str) -> Path:
        """The multilingual-e5 vectors kept beside that catalogue."""
        folder = self.lexical(store_key, collection)
        return folder.with_name(folder.name + "-e5")

    @property
    def originals(self) -> Path:
        """Each ingested document's original bytes (files and fetched URLs), by content hash."""
        return self.data_dir / "originals"

    @property
    def texts(self) -> Path:
        """Each document's extracted text as chunked, by content hash: quote spans index into it."""
        return self.data_dir / "texts"

    @property
    def files_unsettled(self) -> Path:
        """Present while a writer may be keeping originals/texts no stored chunk refers to yet
        (or no longer): the next writer sweeps the unreferenced ones (a SIGKILL's leftovers)."""
        return self.data_dir / "files.unsettled"

    @property
    def commit_lock(self) -> Path:
        return self.data_dir / "commit.lock"

    @property
    def write_lock(self) -> Path:
        return self.data_dir / "write.lock"

    @property
    def pending(self) -> Path:
        """Intent records of library changes not yet known to be complete (crash recovery)."""
        return self.data_dir / "pending"

    # -- records ----------------------------------------------------------------------------------
    @property
    def audit_log(self) -> Path:
        return self.data_dir / "audit.jsonl"

    @property
    def chat_log(self) -> Path:
        return self.data_dir / "chat-log.jsonl"

    @property
    def feedback(self) -> Path:
        return self.data_dir / "feedback.jsonl"

    @property
    def users(self) -> Path:
        """`BEACON_USERS_FILE` when set, else `<data_dir>/users.toml`."""
        return Path(self.users_override) if self.users_override else self.data_dir / "users.toml"

    @property
    def uploads(self) -> Path:
        """Documents uploaded in the UI; a document stored here is Beacon's own copy."""
        return self.data_dir / "uploads"

    @property
    def eval_datasets(self) -> Path:
        return self.data_dir / "eval-datasets"

    @property
    def eval_runs(self) -> Path:
        return self.data_dir / "eval-runs"

    @property
    def models_registry(self) -> Path:
        """`models.toml`, written by `beacon models install`."""
        return self.data_dir / "models.toml"


def onnx_export(cache_dir: Path, model_name: str, digest: str) -> Path:
    """The ONNX export of an embedding model, in the cache dir shared by all libraries."""
    return Path(cache_dir) / "onnx" / f"{model_name}-{digest}.onnx"
