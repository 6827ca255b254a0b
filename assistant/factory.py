"""The composition root: the one place that decides which parts make up an Assistant."""

from __future__ import annotations

from assistant.answerer import ExtractiveAnswerer
from assistant.core import Assistant
from assistant.embedder import Embedder
from assistant.lexical import LexicalIndex
from assistant.retriever import HybridRetriever
from assistant.settings import Settings
from assistant.store import ChunkStore
from ingest.pipeline import Ingestor


def build_assistant(settings: Settings | None = None) -> Assistant:
    """Wire store, embedder, BM25, retriever, answerer and ingestor from settings.

    Nothing heavy happens here: the model and the store open on first use.
    """
    settings = settings or Settings()
    embedder = Embedder(settings.embed_model, settings.embed_model_path, settings.embed_batch_size)
    store = ChunkStore(settings, embedder.model_name, embedder.dimension)
    lexical_folder = settings.data_dir / "bm25" / (f"{settings.chroma_host}-{settings.chroma_port}" if settings.server_mode else "local") / settings.collection
    lexical = LexicalIndex(store, lexical_folder)
    retriever = HybridRetriever(store, lexical, embedder, settings.candidates, settings.rrf_k)
    answerer = ExtractiveAnswerer(embedder, lexical, settings.min_similarity, settings.max_answer_sentences)
    ingestor = Ingestor(settings, store, embedder)
    return Assistant(settings, store, embedder, lexical, retriever, answerer, ingestor)
