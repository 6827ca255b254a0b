"""Questions in French, German and Russian against an English library: searched with the
multilingual model, answered with quotes from the library, refused when off-topic."""

from __future__ import annotations

import pytest
from conftest import library_catalogue, library_store, library_with_index, multilingual_index

from assistant import ConfigError, Settings, build_assistant

GUIDE = """# Shelter Standards for Victims of Trafficking

## Reflection period

Victims housed in a shelter are granted a reflection period of 90 days to recover and to decide whether to cooperate with the authorities.

## Helpline

The Northbridge anti-trafficking helpline can be reached free of charge on 0800 444 909, every day and every night.

## Staffing

Every shelter must have at least one qualified social worker on duty at all times.
"""


@pytest.fixture(scope="module")
def library_and_index(tmp_path_factory):
    """(assistant, its data dir, its multilingual index) over the shelter guide."""
    folder = tmp_path_factory.mktemp("docs")
    (folder / "shelter-standards.md").write_text(GUIDE, encoding="utf-8")
    data = tmp_path_factory.mktemp("data")
    beacon, index = library_with_index(Settings(data_dir=data))
    beacon.ingest([str(folder)])
    beacon.set_trusted(str(folder))  # a trainer vouches for the helpline number (untrusted numbers are never quoted)
    return beacon, data, index


@pytest.fixture(scope="module")
def library(library_and_index):
    beacon, data, _index = library_and_index
    return beacon, data


@pytest.mark.parametrize(
    "question, expected",
    [
        ("Combien de jours dure le délai de réflexion pour les victimes dans un foyer ?", "90 days"),
        ("Wie lange ist die Reflexionsfrist für Opfer von Menschenhandel in einer Unterkunft?", "90 days"),
        ("Какой номер у горячей линии Northbridge?", "0800 444 909"),
    ],
)
def test_questions_in_other_languages_are_answered_from_the_english_library(library, question, expected):
    beacon, _ = library
    answer = beacon.ask(question)
    assert not answer.refused, answer.refusal_reason
    assert expected in answer.answer
    assert answer.citations and all(s.citations for s in answer.sentences)


@pytest.mark.parametrize("question", ["Comment faire du pain au levain ?", "Wie backe ich Brot?", "Как испечь хлеб дома?"])
def test_off_topic_questions_in_other_languages_are_refused(library, question):
    beacon, _ = library
    answer = beacon.ask(question)
    assert answer.refused and answer.citations == []


def test_a_number_the_library_does_not_hold_is_refused_in_any_language(library):
    beacon, _ = library
    answer = beacon.ask("Quel était le numéro de la ligne d'assistance Northbridge en 2019 ?")
    # Refused, or answered with what the library holds and the year named as not covered.
    if answer.refused:
        assert "2019" in answer.refusal_reason
    else:
        assert "2019" in answer.uncovered and "Not covered by the passages quoted: “2019”" in answer.answer


def test_the_multilingual_vectors_are_kept_and_only_new_chunks_are_embedded(library_and_index, tmp_path):
    beacon, data, index = library_and_index
    beacon.ask("Wie lange dauert die Bedenkzeit?")
    saved = list(data.rglob("vectors.npz"))
    assert len(saved) == 1
    extra = tmp_path / "extra.md"
    extra.write_text("# Hotlines\n\nThe Southbridge helpline answers on 0800 111 222.\n", encoding="utf-8")
    beacon.ingest([str(extra)])
    beacon.set_trusted(str(extra))
    embedded = []
    original = index.embed_passages
    index.embed_passages = lambda texts: (embedded.extend(texts), original(texts))[1]
    try:
        answer = beacon.ask("Quel est le numéro de la ligne Southbridge ?")
    finally:
        index.embed_passages = original
    assert "0800 111 222" in answer.answer
    assert any(t.startswith("Hotlines") for t in embedded), "the new chunk is embedded"
    assert not any(t.startswith("Shelter Standards") for t in embedded), "chunks already embedded are reused"


def test_english_questions_never_load_the_multilingual_index(tmp_path):
    beacon = build_assistant(Settings(data_dir=tmp_path / "data"))
    (tmp_path / "a.md").write_text(GUIDE, encoding="utf-8")
    beacon.ingest([str(tmp_path / "a.md")])
    answer = beacon.ask("How long is the reflection period in a shelter?")
    assert "90 days" in answer.answer
    assert not list((tmp_path / "data").rglob("vectors.npz"))


def test_crosslingual_search_can_be_switched_off(tmp_path):
    """Off, neither retrieval nor answering uses multilingual-e5: nothing is embedded with it,
    whatever the question's language, and no index can be slipped in."""
    settings = Settings(data_dir=tmp_path / "data", crosslingual=False)
    beacon = build_assistant(settings)
    (tmp_path / "a.md").write_text(GUIDE, encoding="utf-8")
    beacon.ingest([str(tmp_path / "a.md")])
    beacon.ask("Combien de jours dure le délai de réflexion pour les victimes dans un foyer ?")
    assert beacon.refresh_multilingual_index() == 0 and not beacon.multilingual_ready()
    assert not list((tmp_path / "data").rglob("vectors.npz"))
    store = library_store(settings)
    catalogue = library_catalogue(settings, store)
    with pytest.raises(ConfigError, match="BEACON_CROSSLINGUAL"):
        build_assistant(settings, store=store, catalogue=catalogue, crosslingual=multilingual_index(settings, catalogue))


def test_an_interrupted_first_build_keeps_what_it_had_embedded(tmp_path, monkeypatch):
    """A large library takes hours to embed with e5; a restart must resume, not start over."""
    import numpy as np

    from assistant.library import crosslingual

    (tmp_path / "a.md").write_text(GUIDE, encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data")
    beacon, index = library_with_index(settings)
    beacon.ingest([str(tmp_path / "a.md")])
    chunks = beacon.reader().bm25_size()
    assert chunks >= 3
    monkeypatch.setattr(crosslingual, "CHECKPOINT", 1)
    monkeypatch.setattr(crosslingual, "CHECKPOINT_SECONDS", 0)
    original, calls = index.embed_passages, []

    def stop_after_two(texts):
        if len(calls) == 2:
            raise KeyboardInterrupt("server stopped")
        calls.append(texts)
        return original(texts)

    index.embed_passages = stop_after_two
    with pytest.raises(KeyboardInterrupt):
        index.ensure_current()
    saved = np.load(next((tmp_path / "data").rglob("vectors.npz")))
    assert len(saved["keys"]) == 2 and saved["vectors"].shape == (2, 384)

    resumed = multilingual_index(settings, library_catalogue(settings, library_store(settings)))  # after a restart
    embedded = []
    resumed.embed_passages = lambda texts: (embedded.extend(texts), original(texts))[1]
    resumed.ensure_current()
    assert len(embedded) == chunks - 2, "only the chunks not saved before the stop are embedded"


def test_the_background_index_build_runs_at_the_lowest_priority():
    import os
    import threading

    from assistant.service import at_low_priority

    seen = []
    worker = threading.Thread(target=at_low_priority, args=(lambda: seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())),))
    worker.start()
    worker.join()
    assert seen == [19]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < 19, "the serving threads keep their priority"


def test_the_server_starts_the_multilingual_build_only_once_it_listens(tmp_path, monkeypatch, free_port):
    """The build competes with the start for the CPUs (about 2 s of a cold start at 100k
    chunks), so `ui.launch` warms up without it and starts it after the server answers."""
    import threading

    import httpx

    import ui

    (tmp_path / "a.md").write_text(GUIDE, encoding="utf-8")
    beacon, index = library_with_index(Settings(data_dir=tmp_path / "data"))
    beacon.ingest([str(tmp_path / "a.md")])
    port = free_port
    listening_when_built = []

    def build():
        try:
            listening_when_built.append(httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code)
        except httpx.HTTPError as exc:
            listening_when_built.append(repr(exc))

    monkeypatch.setattr(index, "ensure_current", build)
    app = ui.launch(beacon, "127.0.0.1", port, block=False)
    try:
        for thread in [t for t in threading.enumerate() if t.name == "beacon-e5-index"]:
            thread.join(timeout=30)
        assert listening_when_built == [200]
    finally:
        app.close()


def test_ingest_refreshes_the_multilingual_index_only_up_to_a_bound(tmp_path):
    """`beacon ingest` embeds new chunks with e5 itself, but leaves a large backlog to the
    server's background build instead of blocking for hours."""
    (tmp_path / "guide.md").write_text(GUIDE, encoding="utf-8")
    beacon, index = library_with_index(Settings(data_dir=tmp_path / "data"))
    beacon.ingest([str(tmp_path / "guide.md")])
    pending = index.pending()
    assert pending > 0 and not index.ready()
    assert beacon.refresh_multilingual_index(max_new=pending - 1) == pending and not index.ready()
    assert beacon.refresh_multilingual_index(max_new=pending) == 0 and index.ready() and index.pending() == 0
