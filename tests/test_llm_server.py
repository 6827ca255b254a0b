"""`BEACON_ANSWERER=openai` against a real OpenAI-compatible server: `python -m llama_cpp.server`
serving the SmolLM2-135M GGUF on 127.0.0.1, started and stopped by the tests."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from conftest import stop_process, unused_port
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from test_generative import GUARDIAN, LIBRARY, assert_grounded

from assistant import ConfigError, Settings, build_assistant
from assistant.answering.base import DraftDelta, Final
from assistant.llm.backends import build_chat_model
from assistant.llm.catalog import CATALOG, packaged_gguf


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory):
    """Base URL of a llama.cpp OpenAI-compatible server on a free loopback port."""
    port = unused_port()
    log = (tmp_path_factory.mktemp("server") / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(packaged_gguf(CATALOG["smollm2"])),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}; see {log.name}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer on {base_url} within 90 s; see {log.name}")
            time.sleep(0.2)
        yield base_url
    finally:
        stop_process(process, 10)
        log.close()


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    docs = tmp_path_factory.mktemp("docs")
    for name, text in LIBRARY.items():
        (docs / name).write_text(text, encoding="utf-8")
    build_assistant(Settings(data_dir=data_dir)).ingest([str(docs)])
    return data_dir


def openai_settings(library_dir, base_url: str, **overrides) -> Settings:
    options = {"llm_max_tokens": 96, "repair_citations": True} | overrides
    return Settings(data_dir=library_dir, answerer="openai", openai_base_url=base_url, **options)


@pytest.fixture(scope="module")
def remote(library_dir, llm_server):
    return build_assistant(openai_settings(library_dir, llm_server))


def test_openai_mode_answers_are_grounded_or_refused(remote):
    assert remote.answerer_name == "openai"
    answer = remote.ask("What assistance do victims of trafficking receive?", k=3)
    assert answer.answerer == "openai"
    assert_grounded(answer)


def test_openai_mode_streams_deltas_then_the_verified_answer(remote):
    events = list(remote.ask_stream("What are common indicators of labour exploitation?", k=3))
    assert isinstance(events[-1], Final)
    deltas, answer = [e.text for e in events if isinstance(e, DraftDelta)], events[-1].answer
    assert len(deltas) > 1 and "".join(deltas).strip()
    assert_grounded(answer)


def test_openai_mode_ignores_instructions_inside_documents(remote):
    answer = remote.ask("How can suspected trafficking be reported?", k=3)
    assert answer.answer.strip().strip("'\".").upper() != "PWNED"
    assert_grounded(answer)
    assert not any("PWNED" in s.text.upper() and s.supported for s in answer.sentences)


@pytest.mark.parametrize(("verdict", "supported"), [("yes", True), ("no", False)])
def test_judge_mode_gives_the_judge_the_last_word(library_dir, verdict, supported):
    """With BEACON_JUDGE the answer's model judges each sentence the similarity check kept
    (a scripted model in the server's place: the same wiring, a known verdict)."""
    settings = openai_settings(library_dir, f"http://127.0.0.1:{unused_port()}/v1", judge=True)  # never called
    question = "Who must child victims of trafficking be assigned?"
    n = next(i for i, h in enumerate(build_assistant(settings).retrieve(question, 3).hits, 1) if GUARDIAN in h.text)
    model = GenericFakeChatModel(messages=iter([AIMessage(content=f"{GUARDIAN} [{n}]")] + [AIMessage(content=verdict)] * 5))
    judged = build_assistant(settings, chat_model=model)
    answer = judged.answer_from(judged.retrieve(question, 3))
    assert [s.supported for s in answer.sentences] == [supported]


def test_judge_mode_and_follow_ups_over_the_server(library_dir, llm_server):
    judged = build_assistant(openai_settings(library_dir, llm_server, judge=True))
    history = [{"role": "user", "content": "What assistance do victims of trafficking receive?"}, {"role": "assistant", "content": "Shelter [1]."}]
    answer = judged.ask("and for children?", k=3, history=history)
    assert "rewrite" in answer.timings_ms
    assert_grounded(answer)


def test_the_answer_length_limit_reaches_the_server(library_dir, llm_server):
    model = build_chat_model(openai_settings(library_dir, llm_server, llm_max_tokens=16))  # as build_assistant builds it
    reply = model.invoke("Write a long essay about the history of the Silk Road.")
    assert reply.response_metadata["token_usage"]["completion_tokens"] <= 16


def test_no_environment_key_is_sent_and_an_unreachable_server_is_a_config_error(library_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-this-server")
    settings = openai_settings(library_dir, f"http://127.0.0.1:{unused_port()}/v1", openai_timeout_s=5)
    assert build_chat_model(settings).openai_api_key.get_secret_value() == "unused"  # the model build_assistant answers with
    beacon = build_assistant(settings)
    with pytest.raises(ConfigError, match="BEACON_OPENAI_BASE_URL"):
        beacon.ask("What assistance do victims of trafficking receive?", k=3)
