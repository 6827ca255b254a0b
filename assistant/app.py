"""The composition root: the one place that decides which parts make up an Assistant."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.answering.extractive import ExtractiveAnswerer
from assistant.answering.retriever import HybridRetriever
from assistant.domain.errors import ConfigError
from assistant.domain.settings import Settings
from assistant.library.catalogue import LexicalIndex
from assistant.library.crosslingual import CrossLingualIndex
from assistant.library.embedder import Embedder
from assistant.library.store import ChunkStore
from assistant.records.feedback import FeedbackStore, feedback_store
from assistant.records.uploads import Workspace, settle_abandoned_uploads
from assistant.records.users import UserStore
from assistant.service import Assistant
from ingest.pipeline import Ingestor

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel


def build_assistant(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    store: ChunkStore | None = None,
    catalogue: LexicalIndex | None = None,
    crosslingual: CrossLingualIndex | None = None,
    chat_model: BaseChatModel | None = None,
) -> Assistant:
    """Wire store, embedder, BM25, retriever, answerer and ingestor from settings.

    Nothing heavy happens here: the model and the store open on first use. The keyword
    arguments replace a part the settings would build: a host application's own chat model
    (with `BEACON_ANSWERER=llamacpp` or `openai`), or, in tests, an instrumented or failing
    part whose reference the test keeps (the multilingual index must then be built on the
    given catalogue).
    """
    settings = settings or Settings()
    embedder = embedder or Embedder(settings.embed_model, settings.embed_model_path, settings.embed_batch_size, settings.query_runtime, settings.cache_dir)
    store = store or ChunkStore(settings, embedder.model_name, embedder.dimension)
    paths = settings.paths
    lexical = catalogue or LexicalIndex(store, paths.lexical(settings.store_key, settings.collection))
    if crosslingual is not None and not settings.crosslingual:
        raise ConfigError("A multilingual index was given but BEACON_CROSSLINGUAL is off; turn it on to use the index.")
    if crosslingual is None and settings.crosslingual:
        crosslingual = CrossLingualIndex(lexical, paths.multilingual(settings.store_key, settings.collection))
    retriever = HybridRetriever(store, lexical, embedder, settings.candidates, settings.rrf_k, settings.max_chunks_per_doc, crosslingual)
    answerer, rewriter = build_answerer(settings, embedder, lexical, crosslingual, chat_model)
    ingestor = Ingestor(settings, store, embedder, lambda stored_sha256: settle_abandoned_uploads(settings.data_dir, stored_sha256))
    return Assistant(settings, store, embedder, lexical, retriever, answerer, ingestor, rewriter)


def build_answerer(settings: Settings, embedder: Embedder, lexical: LexicalIndex, crosslingual: CrossLingualIndex | None = None, chat_model: BaseChatModel | None = None):
    """The answerer `BEACON_ANSWERER` names, and the follow-up rewriter that goes with it.

    LLM backends are imported here only when chosen; a missing package is a ConfigError
    naming the extra to install, raised now rather than at the first question.
    """
    extractive = ExtractiveAnswerer(embedder, lexical, settings.max_answer_sentences, crosslingual, min_confidence=settings.min_confidence)
    from assistant.answering.followup import FollowUpRewriter

    if settings.answerer == "extractive":
        if chat_model is not None:
            raise ConfigError("A chat model was given but BEACON_ANSWERER=extractive; set BEACON_ANSWERER=llamacpp or openai to answer with it.")
        return extractive, FollowUpRewriter()
    from assistant.answering.generative import GenerativeAnswerer
    from assistant.answering.verify import CitationVerifier
    from assistant.llm.backends import build_chat_model, judge_chain, prompt_budget_chars

    model = chat_model or build_chat_model(settings)
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


# -- the records the UI and the CLI keep beside a library -----------------------------------------
def build_users(settings: Settings) -> UserStore:
    """The accounts of the web UI (`BEACON_USERS_FILE`, else `<data_dir>/users.toml`)."""
    return UserStore(settings.paths.users)


def build_feedback(settings: Settings) -> FeedbackStore:
    """Ratings from the chat, kept `BEACON_FEEDBACK_RETENTION_DAYS`."""
    return feedback_store(settings)


def build_workspace(settings: Settings) -> Workspace:
    """The UI's uploaded documents, eval datasets and eval runs under the data dir."""
    return Workspace(settings.data_dir)
