"""Client/server mode against a real `chroma run` on 127.0.0.1: the host and port settings
reach the client, nothing falls back to the embedded store, and an unreachable server is a
StoreError that says which setting to check."""

from __future__ import annotations

import subprocess
import time
import urllib.request

import pytest
from conftest import stop_process, unused_port

from assistant import Settings, StoreError, build_assistant

pytestmark = pytest.mark.server

GUIDE = """\
# Labour Inspection and Trafficking

Labour inspectors have the right to enter workplaces without prior notice, which makes them well placed to detect forced labour.

## Referral

When an inspector meets a presumed victim of trafficking, the inspector refers the person to the national referral mechanism for assistance.
"""


def wait_for_heartbeat(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/api/v2/heartbeat"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"`chroma run` exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"`chroma run` did not answer {url} within {timeout:g} s")


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory, venv_bin):
    """The port of a real Chroma server (`chroma run`) on 127.0.0.1, storing in a temp dir."""
    chroma = venv_bin / "chroma"
    if not chroma.is_file():
        pytest.fail(f"{chroma} is missing: the `chroma` CLI ships with chromadb, reinstall with `pip install -e .`")
    port = unused_port()
    log = tmp_path_factory.mktemp("chroma-log") / "chroma.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(chroma), "run", "--path", str(tmp_path_factory.mktemp("chroma-server")), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_heartbeat(port, process)
        yield port
    finally:
        stop_process(process, 15)


@pytest.fixture(scope="module")
def server_library(chroma_server, tmp_path_factory):
    """(assistant in server mode, its local data dir, the ingested guide's path)."""
    folder = tmp_path_factory.mktemp("docs")
    guide = folder / "labour-inspection.md"
    guide.write_text(GUIDE, encoding="utf-8")
    data_dir = tmp_path_factory.mktemp("local")
    beacon = build_assistant(Settings(data_dir=data_dir, chroma_host="127.0.0.1", chroma_port=chroma_server))
    reports = beacon.ingest([str(guide)])
    assert [r.status for r in reports] == ["added"], reports
    return beacon, data_dir, guide


def test_server_mode_ingests_and_lists_documents(server_library):
    beacon, _data_dir, guide = server_library
    docs = beacon.list_documents()
    assert [(d.source, d.title) for d in docs] == [(str(guide), "Labour Inspection and Trafficking")]
    assert docs[0].chunks == len(beacon.document_chunks(docs[0].doc_id)) >= 2


def test_server_mode_answers_with_citations(server_library):
    beacon, _data_dir, guide = server_library
    answer = beacon.ask("Where do labour inspectors refer a presumed victim of trafficking?")
    assert not answer.refused, answer.answer
    assert "national referral mechanism" in answer.answer
    assert answer.citations and {c.source for c in answer.citations} == {str(guide)}
    assert any(c.locator == "§ Referral" for c in answer.citations)


def test_server_mode_uses_the_server_not_an_embedded_store(server_library, chroma_server, tmp_path):
    _beacon, data_dir, guide = server_library
    assert not (data_dir / "chroma").exists(), "an embedded store was created in server mode"
    # Another replica with its own local folder sees the same library through the server.
    replica = build_assistant(Settings(data_dir=tmp_path / "replica", chroma_host="127.0.0.1", chroma_port=chroma_server))
    assert [d.source for d in replica.list_documents()] == [str(guide)]
    assert [r.status for r in replica.ingest([str(guide)])] == ["unchanged"]


def test_unreachable_server_is_a_store_error_naming_the_setting(tmp_path, free_port):
    beacon = build_assistant(Settings(data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=free_port))
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        beacon.list_documents()
    message = str(caught.value)
    assert "BEACON_CHROMA_HOST" in message and f"127.0.0.1:{free_port}" in message
    assert time.monotonic() - started < 30
