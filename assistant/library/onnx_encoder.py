"""The embedding model run by onnxruntime, for the question-side hot path.

Ingestion embeds documents with sentence-transformers. Answering needs the same model for
each question and its candidate sentences, but importing torch, transformers and
sentence-transformers costs 5–12 s and ~400 MB in a serving process that otherwise never
needs them. So the model (transformer, pooling and normalisation) is exported once to an
ONNX graph, checked against sentence-transformers on probe sentences, cached under
`BEACON_CACHE_DIR`, and run with onnxruntime and the model's own `tokenizer.json`.

The export runs in a child process (`python -m assistant.library.onnx_encoder SRC DEST`), so the
server that asks for it never imports torch.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from assistant.domain.errors import ConfigError
from assistant.domain.paths import onnx_export

EXPORT_FORMAT = 1  # bump when the exported graph changes
EXPORT_TIMEOUT_S = 900
MAX_DIFFERENCE = 1e-4  # largest element-wise gap to sentence-transformers the export accepts
PROBES = [
    "What must States Parties do to prevent trafficking in persons?",
    "Article 9 — Prevention of trafficking in persons",
    "Ok.",
    "The Protocol applies to the prevention, investigation and prosecution of the offences " * 40,
]
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def max_seq_length(model_path: Path) -> int:
    """Tokens the model reads per text (sentence-transformers' `max_seq_length`)."""
    config = Path(model_path) / "sentence_bert_config.json"
    try:
        return int(json.loads(config.read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{config} is missing or has no max_seq_length; is {model_path} a sentence-transformers model folder?") from exc


def exported_path(model_path: Path, cache_dir: Path, model_name: str) -> Path:
    """Where the export of this model folder lives; a changed model gets a new name."""
    model_path = Path(model_path).resolve()
    parts = [str(EXPORT_FORMAT), str(model_path)]
    for path in sorted(p for p in model_path.rglob("*") if p.is_file()):
        stat = path.stat()
        parts.append(f"{path.relative_to(model_path)}:{stat.st_size}:{stat.st_mtime_ns}")
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return onnx_export(cache_dir, model_name, digest)


def ensure_exported(model_path: Path, cache_dir: Path, model_name: str) -> Path:
    """The cached export of the model, made now (in a child process) when missing."""
    target = exported_path(model_path, cache_dir, model_name)
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create {target.parent} for the ONNX export of the embedding model ({exc}); "
            "set BEACON_CACHE_DIR to a writable folder, or BEACON_QUERY_RUNTIME=torch."
        ) from exc
    _remove_stale_partials(target)
    command = [sys.executable, "-m", "assistant.library.onnx_encoder", str(model_path), str(target)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise ConfigError(f"Exporting the embedding model to ONNX took over {EXPORT_TIMEOUT_S} s; set BEACON_QUERY_RUNTIME=torch to answer with sentence-transformers instead.") from exc
    if done.returncode != 0 or not target.is_file():
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ConfigError(
            f"Exporting the embedding model to ONNX failed ({detail[0]}); "
            "set BEACON_QUERY_RUNTIME=torch to answer with sentence-transformers instead."
        )
    return target


def _remove_stale_partials(target: Path) -> None:
    """Partial files of exports of this model that were killed (older than any export may
    take). Finished exports of other model folders stay: several installations (a checkout and
    its CI clone) may share one cache, each with its own export."""
    now = time.time()
    for path in target.parent.glob(f"{target.name}.*.partial"):
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > EXPORT_TIMEOUT_S:
                path.unlink()


class OnnxEncoder:
    """L2-normalised sentence vectors from the exported graph (same values as
    sentence-transformers' `encode(..., normalize_embeddings=True)` to ~1e-6)."""

    def __init__(self, graph: Path, model_path: Path, batch_size: int = 64):
        import onnxruntime
        from tokenizers import Tokenizer

        tokenizer_file = Path(model_path) / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise ConfigError(f"{tokenizer_file} is missing; the ONNX query runtime needs the model's fast tokenizer (or set BEACON_QUERY_RUNTIME=torch).")
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        # tokenizer.json carries its own 128-token truncation and fixed padding; the model reads
        # max_seq_length tokens and a batch is padded to its longest text, as in sentence-transformers.
        self.tokenizer.enable_truncation(max_length=max_seq_length(model_path))
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own (unexported) error types
            raise ConfigError(f"Cannot load the ONNX export {graph} ({exc}); delete it to export it again.") from exc
        self.batch_size = batch_size
        self._names = [i.name for i in self.session.get_inputs()]

    def encode(self, texts: list[str]) -> np.ndarray:
        """Vectors in the order of `texts`; batches group texts of similar length."""
        out = np.zeros((len(texts), self.session.get_outputs()[0].shape[-1]), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._run([texts[i] for i in rows])
        return out

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return self.session.run(None, {name: feeds[name] for name in self._names})[0]


@functools.lru_cache(maxsize=4)
def shared_encoder(graph: Path, model_path: Path, batch_size: int = 64) -> OnnxEncoder:
    """One session per export and process (a session is thread-safe; several assistants in a
    process, e.g. an evaluation's baselines, need not load the graph again)."""
    return OnnxEncoder(graph, model_path, batch_size)


def export(model_path: Path, target: Path) -> float:
    """Export the sentence-transformers model to `target` and return its largest gap to
    sentence-transformers on the probes; nothing is written when the gap is too large."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True).eval()

    class Normalised(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            features = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return torch.nn.functional.normalize(self.model(features)["sentence_embedding"], dim=1)

    sample = model.preprocess(PROBES[:2])
    partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.partial")
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    try:
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                Normalised().eval(),
                tuple(sample[name] for name in INPUTS),
                str(partial),
                input_names=list(INPUTS),
                output_names=["sentence_embedding"],
                dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        expected = model.encode(PROBES, normalize_embeddings=True, convert_to_numpy=True)
        got = OnnxEncoder(partial, model_path).encode(PROBES)
        gap = float(np.abs(expected - got).max())
        if gap > MAX_DIFFERENCE:
            raise RuntimeError(f"the ONNX export differs from sentence-transformers by {gap:.2e} (> {MAX_DIFFERENCE})")
        os.replace(partial, target)  # atomic: a concurrent reader sees the whole file or none
    finally:
        partial.unlink(missing_ok=True)
    return gap


def main(argv: list[str] | None = None) -> int:
    import warnings

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m assistant.library.onnx_encoder MODEL_DIR TARGET.onnx", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore")  # tracer notes about the pooling's shape check
    try:
        gap = export(Path(args[0]), Path(args[1]))
    except Exception as exc:  # reported to the parent through the exit code and stderr
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"exported {args[1]} (largest difference to sentence-transformers {gap:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
