"""The question-side embedding runtime: the ONNX export of the embedding model (made once in a
child process, cached, equal to sentence-transformers), its failures, and a serving process
that answers without importing torch, sentence-transformers or LangChain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant import ConfigError, Settings, build_assistant
from assistant.library.embedder import Embedder
from assistant.library.onnx_encoder import OnnxEncoder, exported_path

MODEL = "all-MiniLM-L6-v2"
ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "What must States Parties do to prevent trafficking in persons?",
    "Что такое торговля людьми?",
    "Article 9",
    "States Parties shall establish comprehensive policies, programmes and other measures. " * 30,  # over 256 tokens
]


def test_export_is_made_once_and_equals_sentence_transformers(tmp_path):
    cache = tmp_path / "cache"
    embedder = Embedder(MODEL, query_runtime="onnx", cache_dir=cache)
    assert embedder.needs_export()  # `beacon serve` says it is exporting
    embedder.load_query_runtime()
    assert not embedder.needs_export()
    graphs = sorted((cache / "onnx").iterdir())
    assert [g.suffix for g in graphs] == [".onnx"], "one finished export, no partial file left behind"
    made = graphs[0].stat().st_mtime_ns

    expected = embedder.embed(TEXTS)  # sentence-transformers
    got = embedder.embed_cached(TEXTS)  # onnxruntime
    np.testing.assert_allclose(got, expected, atol=1e-5)
    for text, vector in zip(TEXTS, expected):
        np.testing.assert_allclose(embedder.embed_one(text), vector, atol=1e-5)

    again = Embedder(MODEL, query_runtime="onnx", cache_dir=cache)
    again.load_query_runtime()
    assert sorted((cache / "onnx").iterdir()) == graphs
    assert graphs[0].stat().st_mtime_ns == made, "a second assistant must reuse the export"


def test_torch_runtime_embeds_questions_with_sentence_transformers(tmp_path):
    cache = tmp_path / "cache"
    embedder = Embedder(MODEL, query_runtime="torch", cache_dir=cache)
    expected = embedder.embed(TEXTS[:2])
    np.testing.assert_allclose(embedder.embed_one(TEXTS[0]), expected[0], atol=1e-5)
    np.testing.assert_allclose(embedder.embed_cached(TEXTS[:2]), expected, atol=1e-6)
    assert not (cache / "onnx").exists(), "the torch runtime must not load (so export) the ONNX graph"
    assert not embedder.needs_export()


def test_export_of_a_folder_without_weights_fails_with_the_way_out(tmp_path, monkeypatch):
    from assistant.library import onnx_encoder

    model = tmp_path / "broken-model"
    model.mkdir()
    (model / "sentence_bert_config.json").write_text('{"max_seq_length": 256}')
    target = exported_path(model, tmp_path / "cache", MODEL)
    target.parent.mkdir(parents=True)
    killed = target.with_name(f"{target.name}.111.1.partial")  # left by an export that was killed
    killed.write_bytes(b"half a graph")
    os.utime(killed, (0, 0))
    running = target.with_name(f"{target.name}.222.1.partial")  # another process exporting now
    running.write_bytes(b"a graph being written")

    embedder = Embedder(MODEL, model_path=model, query_runtime="onnx", cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigError, match="BEACON_QUERY_RUNTIME=torch"):
        embedder.embed_one("What is trafficking?")
    assert not list((tmp_path / "cache" / "onnx").glob("*.onnx"))
    assert not killed.exists() and running.exists()

    def no_second_export(*args, **kwargs):
        raise AssertionError("a failed export must not be retried on every question")

    monkeypatch.setattr(onnx_encoder.subprocess, "run", no_second_export)
    with pytest.raises(ConfigError, match="BEACON_QUERY_RUNTIME=torch"):
        embedder.embed_one("And another question?")


def test_questions_do_not_wait_for_the_document_model(tmp_path):
    """An upload through the server loads sentence-transformers (seconds) under the document
    model's lock; questions embedded by the ONNX runtime must not queue behind it."""
    import threading

    embedder = Embedder(MODEL, query_runtime="onnx", cache_dir=Settings().cache_dir)
    embedder.load_query_runtime()
    answered = []
    with embedder.document_model_lock:  # as while `load()` imports torch for an ingest
        worker = threading.Thread(target=lambda: answered.append(embedder.embed_one("What is trafficking?")))
        worker.start()
        worker.join(timeout=30)
        assert answered, "the question waited for the document model's lock"


def test_a_damaged_export_says_to_delete_it(tmp_path):
    from assistant.library.embedder import packaged_model_path

    model = packaged_model_path(MODEL)
    graph = exported_path(model, tmp_path, MODEL)
    graph.parent.mkdir(parents=True)
    graph.write_bytes(b"not an onnx graph")
    with pytest.raises(ConfigError, match="delete it"):
        OnnxEncoder(graph, model)


def test_settings_choose_the_runtime(tmp_path):
    from assistant.library.embedder import packaged_model_path

    model = packaged_model_path(MODEL)
    onnx = build_assistant(Settings(data_dir=tmp_path / "a", cache_dir=tmp_path / "cache"))
    onnx.reader().embed_question("What is trafficking?")
    assert exported_path(model, tmp_path / "cache", MODEL).is_file(), "the default onnx runtime exports into the cache dir of the settings"
    torch_mode = build_assistant(Settings(data_dir=tmp_path / "b", query_runtime="torch", cache_dir=tmp_path / "torch-cache"))
    torch_mode.reader().embed_question("What is trafficking?")
    assert not (tmp_path / "torch-cache").exists() or not exported_path(model, tmp_path / "torch-cache", MODEL).exists(), "torch needs no export"


SERVE_AND_ASK = """
import json, sys
from assistant import Settings, build_assistant
import ui
beacon = build_assistant(Settings())
beacon.warm_up()
ui.build_app(beacon, users=None)
answer = beacon.ask("How long is the reflection period for presumed victims?")
heavy = ["torch", "transformers", "sentence_transformers", "langchain_core", "sklearn"]
print(json.dumps({"refused": answer.refused, "answer": answer.answer, "citations": len(answer.citations),
                  "loaded": [m for m in heavy if m in sys.modules]}))
"""


def test_serving_answers_without_importing_torch(tmp_path, article_markdown):
    data = tmp_path / "data"
    build_assistant(Settings(data_dir=data, crosslingual=False)).ingest([str(article_markdown)])
    env = {**os.environ, "BEACON_DATA_DIR": str(data), "BEACON_CROSSLINGUAL": "false", "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    done = subprocess.run([sys.executable, "-c", SERVE_AND_ASK], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert not result["refused"] and result["citations"] >= 1, result
    assert "thirty days" in result["answer"]
    assert result["loaded"] == [], f"the serving path imported {result['loaded']}"
