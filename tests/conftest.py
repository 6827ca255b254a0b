"""Shared fixtures: an isolated environment, fresh assistants on throw-away data dirs, and small
real servers (HTTP) bound to 127.0.0.1.

Nothing here fakes Beacon: every assistant is built by `build_assistant` on a real Chroma store
in a temp dir with the real embedding model (loaded once per process, then cheap).
"""

from __future__ import annotations

import functools
import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from assistant import Settings, build_assistant
from assistant.library.catalogue import LexicalIndex
from assistant.library.crosslingual import CrossLingualIndex
from assistant.library.embedder import Embedder
from assistant.library.store import ChunkStore

ARTICLE_MARKDOWN = """\
---
title: Guidance on Victim Identification
year: 2019
doc_type: guidelines
symbol: PC.DEC/1107
source_url: https://example.org/guidance
---
# Guidance on Victim Identification

Frontline staff such as labour inspectors, border guards and social workers are often the first to meet victims of trafficking.

### Article 3

Use of terms. Trafficking in persons shall mean the recruitment, transportation, transfer, harbouring or receipt of persons by means of the threat or use of force for the purpose of exploitation.

### Article 4

Scope of application. This guidance applies to all forms of trafficking in persons, whether national or transnational, and whether or not connected with organised crime.

### Article 5

Reflection period. Presumed victims shall be granted a recovery and reflection period of at least thirty days, during which no expulsion order may be enforced against them.
"""


@pytest.fixture(scope="session", autouse=True)
def clean_beacon_environment(tmp_path_factory):
    """No BEACON_* variable of the developer's shell (or of `make test`, which exports
    BEACON_DATA_DIR) leaks into a test, and the default data and cache dirs are throw-away folders."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("BEACON_"):
                mp.delenv(name)
        mp.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data-home")))
        # The ONNX export of the embedding model is made once per test session, here, not in
        # (or from) the developer's ~/.cache.
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache-home")))
        mp.setenv("TOKENIZERS_PARALLELISM", "false")
        yield


@pytest.fixture()
def data_dir(tmp_path) -> Path:
    """An empty library folder of this test only."""
    return tmp_path / "data"


@pytest.fixture()
def beacon(data_dir):
    """A fresh assistant on an empty, isolated data dir (embedded Chroma)."""
    return build_assistant(Settings(data_dir=data_dir))


@pytest.fixture(scope="session")
def article_markdown_text() -> str:
    """Text of a Markdown guidance note with front matter and three `### Article N` sections."""
    return ARTICLE_MARKDOWN


@pytest.fixture()
def article_markdown(tmp_path) -> Path:
    """That guidance note as a file of this test."""
    path = tmp_path / "docs" / "victim-identification.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ARTICLE_MARKDOWN, encoding="utf-8")
    return path


@pytest.fixture()
def store_of_another_model(data_dir):
    """A data dir whose collection was created (by chromadb itself) for a 768-dimension model."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    client.create_collection(
        "beacon",
        embedding_function=None,
        configuration={"hnsw": {"space": "cosine"}},
        metadata={"embed_model": "other-model", "embed_dim": 768, "revision": 0},
    )
    return data_dir


def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking); for
    module-scoped servers, which cannot use the `free_port` fixture."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    return unused_port()


def library_embedder(settings: Settings) -> Embedder:
    """The embedding model `build_assistant(settings)` would use, built the same way."""
    return Embedder(settings.embed_model, settings.embed_model_path, settings.embed_batch_size, settings.query_runtime, settings.cache_dir)


def library_store(settings: Settings, embedder: Embedder | None = None) -> ChunkStore:
    """The chunk store of a library, opened as `build_assistant(settings)` opens it: for a test
    that holds its write lock or reads it directly (another process's view of the library)."""
    embedder = embedder or library_embedder(settings)
    return ChunkStore(settings, embedder.model_name, embedder.dimension)


def library_catalogue(settings: Settings, store: ChunkStore) -> LexicalIndex:
    """The BM25 catalogue over `store`, at the path `build_assistant(settings)` uses."""
    return LexicalIndex(store, settings.paths.lexical(settings.store_key, settings.collection))


def multilingual_index(settings: Settings, catalogue: LexicalIndex) -> CrossLingualIndex:
    """The multilingual-e5 index over `catalogue`, at the path `build_assistant(settings)` uses;
    inject it with `build_assistant(settings, store=..., catalogue=catalogue, crosslingual=index)`."""
    return CrossLingualIndex(catalogue, settings.paths.multilingual(settings.store_key, settings.collection))


def library_with_index(settings: Settings):
    """(assistant, its multilingual index): the index built here and injected, so a test can
    instrument it (count what it embeds, stop its build) through its own reference."""
    store = library_store(settings)
    catalogue = library_catalogue(settings, store)
    index = multilingual_index(settings, catalogue)
    return build_assistant(settings, store=store, catalogue=catalogue, crosslingual=index), index


@pytest.fixture(scope="session")
def embedder(clean_beacon_environment) -> Embedder:
    """One real embedding model for the session (default settings), for tests of the parts
    that take an embedder; inject it with `build_assistant(settings, embedder=embedder)`."""
    return library_embedder(Settings())


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


@pytest.fixture()
def served_folder(tmp_path):
    """(folder, base URL): files put in the folder are served by a real http.server on 127.0.0.1."""
    folder = tmp_path / "www"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def venv_bin() -> Path:
    """The folder of the interpreter running the tests, where `beacon` and `chroma` are installed."""
    return Path(sys.executable).parent


def stop_process(process: subprocess.Popen, timeout: float = 15) -> None:
    """Terminate a server a test started; kill it if it does not stop in time."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()



SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def dev_library(tmp_path_factory, embedder):
    """The development library (../shared/corpus + ../shared/seeds, as `make eval` builds it),
    with its multilingual index; built once per session, tests only read it."""
    corpus, seeds = SHARED / "corpus", SHARED / "seeds"
    if not corpus.is_dir() or not seeds.is_dir():
        pytest.skip(f"the shared library ({SHARED}) is not available")
    beacon = build_assistant(Settings(data_dir=tmp_path_factory.mktemp("dev-library")), embedder=embedder)
    reports = beacon.ingest([str(corpus), str(seeds)])
    assert reports and all(r.status == "added" for r in reports), [(r.source, r.status, r.error) for r in reports]
    beacon.refresh_multilingual_index()
    return beacon
