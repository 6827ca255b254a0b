"""The composition root: the one place that decides which parts make up an Assistant."""

from __future__ import annotations

from assistant.answering.extractive import ExtractiveAnswerer
from assistant.service import Assistant
from assistant.library.crosslingual import CrossLingualIndex
from assistant.library.embedder import Embedder
from assistant.library.catalogue import LexicalIndex
from assistant.answering.retriever import HybridRetriever
from assistant.domain.settings import Settings
from assistant.library.store import ChunkStore
from ingest.pipeline import Ingestor


def build_assistant(settings: Settings | None = None) -> Assistant:
    """Wire store, embedder, BM25, retriever, answerer and ingestor from settings.

    Nothing heavy happens here: the model and the store open on first use.
    """
    settings = settings or Settings()
    embedder = Embedder(settings.embed_model, settings.embed_model_path, settings.embed_batch_size, settings.query_runtime, settings.cache_dir)
    store = ChunkStore(settings, embedder.model_name, embedder.dimension)
    paths = settings.paths
    lexical = LexicalIndex(store, paths.lexical(settings.store_key, settings.collection))
    crosslingual = CrossLingualIndex(lexical, paths.multilingual(settings.store_key, settings.collection)) if settings.crosslingual else None
    retriever = HybridRetriever(store, lexical, embedder, settings.candidates, settings.rrf_k, settings.max_chunks_per_doc, crosslingual)
    answerer, rewriter = build_answerer(settings, embedder, lexical, crosslingual)
    ingestor = Ingestor(settings, store, embedder)
    return Assistant(settings, store, embedder, lexical, retriever, answerer, ingestor, rewriter)


def build_answerer(settings: Settings, embedder: Embedder, lexical: LexicalIndex, crosslingual: CrossLingualIndex | None = None):
    """The answerer `BEACON_ANSWERER` names, and the follow-up rewriter that goes with it.

    LLM backends are imported here only when chosen; a missing package is a ConfigError
    naming the extra to install, raised now rather than at the first question.
    """
    extractive = ExtractiveAnswerer(embedder, lexical, settings.max_answer_sentences, crosslingual, min_confidence=settings.min_confidence)
    from assistant.answering.followup import FollowUpRewriter

    if settings.answerer == "extractive":
        return extractive, FollowUpRewriter()
    from assistant.answering.generative import GenerativeAnswerer
    from assistant.llm.backends import build_chat_model, judge_chain, prompt_budget_chars
    from assistant.answering.verify import CitationVerifier

    model = build_chat_model(settings)
    verifier = CitationVerifier(
        embedder,
        lexical,
        min_support=settings.min_support,
        unsupported=settings.unsupported_sentences,
        repair=settings.repair_citations,
        judge=judge_chain(model) if settings.judge else None,
    )
    answerer = GenerativeAnswerer(settings.answerer, extractive, model, verifier, prompt_budget_chars(settings))
    return answerer, FollowUpRewriter(model)
