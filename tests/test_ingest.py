"""Ingestion as a whole: idempotence (proved by counting real embedding calls), exact updates
and removals, per-document failures, deterministic ids, the store guards (model mismatch,
write lock) and URL sources against a real local HTTP server."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from conftest import library_store

from assistant import FetchError, Settings, StoreLocked, StoreMismatch, build_assistant
from assistant.library.embedder import Embedder
from ingest.sources import fetch_url

SHELTER_PAGE = """<!doctype html><html><head><title>Emergency Shelter Guide</title></head><body>
<h1>Emergency Shelter Guide</h1>
<p>Emergency shelters for victims of trafficking accept residents at any hour and provide a safe bed, food and medical care.</p>
<h2>Confidentiality</h2>
<p>The address of an emergency shelter is kept confidential to protect residents from their traffickers.</p>
</body></html>
"""


class CountingEmbedder(Embedder):
    """The real embedding model, recording every list of texts it is asked to embed on the
    way (instrumentation, not a fake)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[list[str]] = []

    def embed(self, texts):
        self.calls.append(list(texts))
        return super().embed(texts)


@pytest.fixture()
def settings(data_dir) -> Settings:
    return Settings(data_dir=data_dir)


@pytest.fixture()
def instrumented_embedder(settings) -> CountingEmbedder:
    """The embedder the `beacon` of this module uses, kept by the test."""
    return CountingEmbedder(settings.embed_model, settings.embed_model_path, settings.embed_batch_size, settings.query_runtime, settings.cache_dir)


@pytest.fixture()
def store(settings, instrumented_embedder):
    """The chunk store the `beacon` of this module uses, kept by the test."""
    return library_store(settings, instrumented_embedder)


@pytest.fixture()
def beacon(settings, instrumented_embedder, store):
    """A fresh assistant on an empty, isolated data dir, built on the parts above."""
    return build_assistant(settings, embedder=instrumented_embedder, store=store)


@pytest.fixture()
def embed_calls(instrumented_embedder) -> list[list[str]]:
    """Every list of texts the assistant's embedder is asked to embed, recorded on the way to
    the real model (instrumentation, not a fake)."""
    return instrumented_embedder.calls


def store_rows(beacon) -> list[tuple[str, str, dict]]:
    """Every chunk in the Chroma collection itself: (id, text, metadata)."""
    return list(beacon.reader().chunks())


def texts_in_store(beacon) -> str:
    return "\n".join(text for _id, text, _meta in store_rows(beacon))


# --- idempotence and updates --------------------------------------------------------------
def test_reingest_of_an_unchanged_document_is_unchanged_and_embeds_nothing(beacon, store, article_markdown, embed_calls):
    first = beacon.ingest([str(article_markdown)])
    assert [r.status for r in first] == ["added"]
    assert embed_calls, "the first ingest must embed the chunks"
    rows_before = store_rows(beacon)
    revision_before = store.revision

    embed_calls.clear()
    second = beacon.ingest([str(article_markdown)])

    assert [r.status for r in second] == ["unchanged"]
    assert second[0].doc_id == first[0].doc_id and second[0].chunks == first[0].chunks
    assert embed_calls == [], "an unchanged document must not be embedded again"
    assert store_rows(beacon) == rows_before
    assert store.revision == revision_before  # nothing written, so BM25 is not rebuilt either


def test_changed_document_is_updated_and_leaves_no_stale_chunk(beacon, article_markdown, embed_calls):
    beacon.ingest([str(article_markdown)])
    old = article_markdown.read_text(encoding="utf-8")
    assert "at least thirty days" in texts_in_store(beacon)

    article_markdown.write_text(
        old.replace(
            "a recovery and reflection period of at least thirty days",
            "a recovery and reflection period of at least ninety days",
        ),
        encoding="utf-8",
    )
    embed_calls.clear()
    reports = beacon.ingest([str(article_markdown)])

    assert [r.status for r in reports] == ["updated"]
    stored = texts_in_store(beacon)
    assert "at least ninety days" in stored
    assert "at least thirty days" not in stored, "the old version of the chunk is still in the store"
    rows = store_rows(beacon)
    assert len(rows) == reports[0].chunks == len(beacon.document_chunks(reports[0].doc_id))
    assert {m["sha256"] for _i, _t, m in rows} == {hashlib.sha256(article_markdown.read_bytes()).hexdigest()}
    # Only the changed article is embedded again; the others reuse their stored vectors.
    embedded = [text for call in embed_calls for text in call]
    assert len(embedded) == 1 and "ninety days" in embedded[0]


def test_answers_follow_an_update(beacon, article_markdown):
    beacon.ingest([str(article_markdown)])
    article_markdown.write_text(
        article_markdown.read_text(encoding="utf-8").replace("at least thirty days", "at least ninety days"), encoding="utf-8"
    )
    beacon.ingest([str(article_markdown)])
    answer = beacon.ask("How long is the recovery and reflection period for presumed victims?")
    assert not answer.refused, answer.answer
    assert "ninety days" in answer.answer and "thirty days" not in answer.answer
    assert all("thirty days" not in c.text for c in answer.citations)


def test_a_question_in_flight_while_an_ingest_lands_uses_one_revision(two_documents, instrumented_embedder, monkeypatch, tmp_path):
    """The chat keeps answering while a trainer's upload finishes in the same server: the
    retrieval under way must not mix the index rows of two revisions (a filter mask of the old
    one applied to the new one failed or picked the wrong chunks)."""
    beacon, article, _other = two_documents
    extra = tmp_path / "docs" / "more.md"
    extra.write_text("# Shelters\n\n" + "\n\n".join(f"Shelter rule {i}: residents keep their own documents at all times." for i in range(12)) + "\n", encoding="utf-8")
    real_embed_one = instrumented_embedder.embed_one

    def embed_while_an_ingest_lands(text):
        monkeypatch.setattr(instrumented_embedder, "embed_one", real_embed_one)
        assert beacon.ingest([str(extra)])[0].status == "added"
        return real_embed_one(text)

    monkeypatch.setattr(instrumented_embedder, "embed_one", embed_while_an_ingest_lands)
    answer = beacon.ask("How long is the recovery and reflection period?", filters={"source": str(article)})
    assert answer.retrieved and {r.source for r in answer.retrieved} == {str(article)}
    assert "more.md" in {Path(d.source).name for d in beacon.list_documents()}
    after = beacon.ask("Who keeps the residents' documents in a shelter?")
    assert any(Path(c.source).name == "more.md" for c in after.citations), "the next question sees the new revision"


# --- removal ------------------------------------------------------------------------------
@pytest.fixture()
def two_documents(beacon, tmp_path, article_markdown):
    """(assistant, markdown path, text path) with both ingested."""
    other = tmp_path / "docs" / "labour.txt"
    other.write_text(
        "Labour inspectors check working conditions on farms and construction sites and report signs of forced labour.\n",
        encoding="utf-8",
    )
    reports = beacon.ingest([str(article_markdown), str(other)])
    assert [r.status for r in reports] == ["added", "added"]
    return beacon, article_markdown, other


def test_remove_by_doc_id_deletes_exactly_that_document(two_documents):
    beacon, markdown, other = two_documents
    docs = {d.source: d for d in beacon.list_documents()}
    target, kept = docs[str(markdown)], docs[str(other)]

    removed, count = beacon.remove_document(target.doc_id)

    assert removed == target.doc_id and count == target.chunks
    assert [d.doc_id for d in beacon.list_documents()] == [kept.doc_id]
    assert {m["doc_id"] for _i, _t, m in store_rows(beacon)} == {kept.doc_id}
    answer = beacon.ask("What is the reflection period for presumed victims of trafficking?")
    assert target.doc_id not in {r.doc_id for r in answer.retrieved}, "BM25 still returns a removed document"


def test_remove_by_source_deletes_exactly_that_document(two_documents):
    beacon, markdown, other = two_documents
    docs = {d.source: d for d in beacon.list_documents()}

    removed, count = beacon.remove_document(str(other))

    assert removed == docs[str(other)].doc_id and count == docs[str(other)].chunks
    assert [d.source for d in beacon.list_documents()] == [str(markdown)]
    assert "Labour inspectors check working conditions" not in texts_in_store(beacon)


# --- failures -----------------------------------------------------------------------------
def test_failing_sources_are_reported_and_leave_nothing_while_good_ones_are_ingested(beacon, tmp_path, article_markdown):
    good_text = tmp_path / "good.txt"
    good_text.write_text("Victims of trafficking are entitled to assistance regardless of their immigration status.\n", encoding="utf-8")
    unsupported = tmp_path / "spreadsheet.xyz"
    unsupported.write_text("column,value\n", encoding="utf-8")
    junk_pdf = tmp_path / "scan.pdf"
    junk_pdf.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 20)
    missing = tmp_path / "not-there.md"

    reports = beacon.ingest([str(article_markdown), str(unsupported), str(junk_pdf), str(missing), str(good_text)])

    by_source = {r.source: r for r in reports}
    assert set(by_source) == {str(p) for p in (article_markdown, unsupported, junk_pdf, missing, good_text)}
    assert by_source[str(article_markdown)].status == "added"
    assert by_source[str(good_text)].status == "added"
    for bad in (unsupported, junk_pdf, missing):
        report = by_source[str(bad)]
        assert report.status == "failed" and report.error, report
        assert report.chunks == 0
    assert ".xyz" in by_source[str(unsupported)].error
    assert "PDF" in by_source[str(junk_pdf)].error
    assert "No such file" in by_source[str(missing)].error

    assert {d.source for d in beacon.list_documents()} == {str(article_markdown), str(good_text)}
    stored_ids = {m["doc_id"] for _i, _t, m in store_rows(beacon)}
    failed_ids = {by_source[str(p)].doc_id for p in (unsupported, junk_pdf)}
    assert not (stored_ids & failed_ids)


def test_ids_are_deterministic_across_fresh_stores(tmp_path, article_markdown):
    def ingest_into(name: str):
        beacon = build_assistant(Settings(data_dir=tmp_path / name))
        report = beacon.ingest([str(article_markdown)])[0]
        return report.doc_id, [row[0] for row in sorted(beacon.reader().chunks(), key=lambda row: row[0])]

    first, second = ingest_into("one"), ingest_into("two")
    assert first == second
    doc_id, chunk_ids = first
    assert len(chunk_ids) >= 3 and all(cid.startswith(doc_id + ":") for cid in chunk_ids)


def test_the_same_file_name_in_two_folders_gets_two_documents(beacon, tmp_path):
    """The doc_id hashes the location, not the name: two `notes.md` are two documents."""
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "notes.md").write_text(f"# Notes {folder}\n\nTraining notes on victim support, folder {folder}.\n", encoding="utf-8")
    reports = beacon.ingest([str(tmp_path / "a" / "notes.md"), str(tmp_path / "b" / "notes.md")])
    assert [r.status for r in reports] == ["added", "added"]
    assert reports[0].doc_id != reports[1].doc_id
    assert len(beacon.list_documents()) == 2


# --- store guards -------------------------------------------------------------------------
def assert_says_how_to_reindex(message: str) -> None:
    assert "other-model" in message and "all-MiniLM-L6-v2" in message
    assert "Re-index" in message and "--data-dir" in message


def test_asking_a_store_of_another_model_raises_store_mismatch(store_of_another_model):
    beacon = build_assistant(Settings(data_dir=store_of_another_model))
    with pytest.raises(StoreMismatch) as caught:
        beacon.ask("What is trafficking in persons?")
    assert_says_how_to_reindex(str(caught.value))


def test_ingesting_into_a_store_of_another_model_raises_store_mismatch(store_of_another_model, article_markdown):
    beacon = build_assistant(Settings(data_dir=store_of_another_model))
    with pytest.raises(StoreMismatch) as caught:
        beacon.ingest([str(article_markdown)])
    assert_says_how_to_reindex(str(caught.value))


def test_a_store_of_another_model_is_left_untouched(store_of_another_model, article_markdown):
    beacon = build_assistant(Settings(data_dir=store_of_another_model))
    try:
        beacon.ingest([str(article_markdown)])
    except StoreMismatch:
        pass
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(store_of_another_model / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.get_collection("beacon")
    assert collection.count() == 0
    assert collection.metadata["embed_model"] == "other-model" and collection.metadata["embed_dim"] == 768


def test_a_second_writer_is_refused_while_the_lock_is_held(data_dir, article_markdown):
    holder = library_store(Settings(data_dir=data_dir))
    second = build_assistant(Settings(data_dir=data_dir))
    with holder.write_lock():
        with pytest.raises(StoreLocked) as caught:
            second.ingest([str(article_markdown)])
        assert f"process {os.getpid()}" in str(caught.value)
        assert "try again" in str(caught.value)
        with pytest.raises(StoreLocked):
            second.remove_document(str(article_markdown))
    # Released: the same ingest now goes through.
    assert [r.status for r in second.ingest([str(article_markdown)])] == ["added"]


# --- URLs ---------------------------------------------------------------------------------
def test_url_on_loopback_is_ingested_when_private_urls_are_allowed(tmp_path, served_folder):
    folder, base = served_folder
    (folder / "shelter.html").write_text(SHELTER_PAGE, encoding="utf-8")
    url = f"{base}/shelter.html"
    beacon = build_assistant(Settings(data_dir=tmp_path / "data", allow_private_urls=True))

    reports = beacon.ingest([url])

    assert [(r.status, r.source) for r in reports] == [("added", url)]
    doc = beacon.list_documents()[0]
    assert doc.source == url and doc.url == url and doc.format == "html"
    assert doc.title == "Emergency Shelter Guide"
    chunks = beacon.document_chunks(doc.doc_id)
    assert any("address of an emergency shelter is kept confidential" in c["text"] for c in chunks)
    assert [r.status for r in beacon.ingest([url])] == ["unchanged"]


def test_url_on_loopback_is_refused_by_default(beacon, served_folder):
    folder, base = served_folder
    (folder / "shelter.html").write_text(SHELTER_PAGE, encoding="utf-8")

    reports = beacon.ingest([f"{base}/shelter.html"])

    assert reports[0].status == "failed"
    assert "BEACON_ALLOW_PRIVATE_URLS" in reports[0].error
    assert beacon.list_documents() == []
    with pytest.raises(FetchError, match="BEACON_ALLOW_PRIVATE_URLS"):
        fetch_url(f"{base}/shelter.html", max_bytes=1_000_000, timeout_s=5, allow_private=False)


def test_file_urls_are_refused(tmp_path, article_markdown):
    beacon = build_assistant(Settings(data_dir=tmp_path / "data", allow_private_urls=True))
    url = Path(article_markdown).as_uri()

    reports = beacon.ingest([url])

    assert reports[0].status == "failed" and "http" in reports[0].error
    assert beacon.list_documents() == []
    with pytest.raises(FetchError):
        fetch_url(url, max_bytes=1_000_000, timeout_s=5, allow_private=True)


def test_groups_are_written_by_one_writer_thread_in_input_order(beacon, store, tmp_path, monkeypatch, embed_calls):
    """With several embedding groups, a group's writes overlap the next group's parsing and
    encoding in the writer thread; reports still come in the order the sources were given
    (a failure between two groups included), and every document is stored whole."""
    import threading

    from ingest import pipeline

    monkeypatch.setattr(pipeline, "GROUP_CHUNKS", 2)
    sources = []
    for i in range(6):
        path = tmp_path / f"note-{i}.md"
        path.write_text(f"# Note {i}\n\n" + "\n\n".join(f"Paragraph {j} of note {i} says that measure {j} protects victims of trafficking." for j in range(3)), encoding="utf-8")
        sources.append(path)
    broken = tmp_path / "broken.xyz"
    broken.write_text("not a supported format", encoding="utf-8")
    sources.insert(3, broken)

    writers: list[str] = []
    real_write = store.write_document
    monkeypatch.setattr(store, "write_document", lambda *a: writers.append(threading.current_thread().name) or real_write(*a))
    seen: list[str] = []
    reports = beacon.ingest([str(p) for p in sources], on_progress=lambda done, total, report: seen.append(report.source))

    assert [r.source for r in reports] == [str(p) for p in sources] == seen
    assert [r.status for r in reports] == ["added"] * 3 + ["failed"] + ["added"] * 3
    assert len(embed_calls) >= 3, "the notes should have been embedded in several groups"
    assert len(writers) == 6 and {name.split("_")[0] for name in writers} == {"beacon-ingest-writer"}
    stored = {}
    for _id, _text, meta in store_rows(beacon):
        stored[meta["doc_id"]] = stored.get(meta["doc_id"], 0) + 1
    assert {r.doc_id: r.chunks for r in reports if r.status == "added"} == stored


def test_a_store_failure_in_the_writer_stops_the_ingest(beacon, store, tmp_path, monkeypatch, article_markdown):
    from assistant.domain.errors import StoreError

    def broken_store(*args):
        raise StoreError("disk full")

    monkeypatch.setattr(store, "write_document", broken_store)
    with pytest.raises(StoreError, match="disk full"):
        beacon.ingest([str(article_markdown)])
