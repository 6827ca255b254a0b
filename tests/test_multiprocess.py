"""Several processes on one library: a running `beacon serve`, CLI ingests and removals, and
concurrent `beacon ask` processes. Readers see whole revisions, notice other processes'
changes, and never fail (issue 15: "Error finding id" in Chroma, FileNotFoundError on the
shared temp folder of the keyword index)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from conftest import library_embedder, library_store, stop_process

from assistant import Settings, build_assistant
from ingest.pipeline import Ingestor

BEACON = str(Path(sys.executable).with_name("beacon"))
DOCS = {
    "amberfield": "The amberfield protocol requires labour inspectors to visit seasonal farms every month.",
    "bluestone": "The bluestone charter obliges recruitment agencies to refund every fee charged to migrant workers.",
    "copperleaf": "The copperleaf guideline tells hotel staff to report guests who hold other people's passports.",
}


def write_doc(folder: Path, name: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(f"# The {name} guideline\n\n{DOCS[name]}\n", encoding="utf-8")
    return path


def beacon_cli(data_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([BEACON, "--data-dir", str(data_dir), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen, timeout: float = 180) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"{process.args}: exit {process.returncode}\n{err[-3000:]}"
    return out


def test_a_reader_answers_from_documents_another_process_just_ingested(tmp_path, data_dir):
    beacon = build_assistant(Settings(data_dir=data_dir))  # a running server
    beacon.ingest([str(write_doc(tmp_path / "docs", "amberfield"))])
    beacon.ask("What does the amberfield guideline require?")  # store and indexes open in this process

    finished(beacon_cli(data_dir, "ingest", str(write_doc(tmp_path / "docs", "bluestone"))))
    answer = beacon.ask("What does the bluestone guideline oblige recruitment agencies to do?")
    assert "bluestone" in {Path(c.source).stem for c in answer.citations}
    finished(beacon_cli(data_dir, "docs", "remove", str(tmp_path / "docs" / "amberfield.md")))
    answer = beacon.ask("What does the amberfield guideline require?")
    assert "amberfield" not in {Path(c.source).stem for c in answer.citations}


REBUILDER = r"""
import sys
import bm25s, chromadb  # imported before the start, so that the workers rebuild at the same moment
from assistant import Settings, build_assistant

for line in sys.stdin:  # one line per library change
    beacon = build_assistant(Settings(data_dir=sys.argv[1]))  # a fresh `beacon ask`
    print(len(beacon.reader().bm25_chunk_ids()), flush=True)
"""


def test_concurrent_processes_rebuild_the_keyword_index_without_failing(tmp_path, data_dir):
    settings = Settings(data_dir=data_dir)
    embedder = library_embedder(settings)
    ingestor = Ingestor(settings, library_store(settings, embedder), embedder)  # writes the store, leaves BM25 to the workers
    workers = [subprocess.Popen([sys.executable, "-c", REBUILDER, str(data_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    try:
        for n in range(4):
            # A library change no keyword index has seen: every worker rebuilds it at once.
            path = tmp_path / "docs" / f"note-{n}.md"
            path.parent.mkdir(exist_ok=True)
            path.write_text(f"# Note {n}\n\nNote {n} says that inspectors visit farms {n} times a year.\n", encoding="utf-8")
            ingestor.ingest([str(path)])
            for worker in workers:
                worker.stdin.write("go\n")
                worker.stdin.flush()
            sizes = [worker.stdout.readline().strip() for worker in workers]
            assert sizes == [str(n + 1)] * len(workers), [w.stderr.read()[-3000:] for w in workers if w.poll() is not None]
        for worker in workers:
            finished(worker, timeout=60)  # closes its input: the worker ends
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()


def ask_server(url: str, question: str) -> str:
    """The sources panel of the answer to one chat question (whole library: collection "") through Gradio's API; fails on an error event."""
    with httpx.Client(base_url=url, timeout=120) as client:
        started = client.post("/gradio_api/call/ask", json={"data": [question, [], ""]})
        started.raise_for_status()
        stream = client.get(f"/gradio_api/call/ask/{started.json()['event_id']}").text
    assert "event: error" not in stream, stream[-2000:]
    assert "event: complete" in stream, stream[-2000:]
    outputs = json.loads(stream.split("event: complete")[1].split("data:", 1)[1].strip().splitlines()[0])
    return outputs[3]  # question box, chat, turns, sources, copy text, feedback form


def test_server_answers_while_the_cli_ingests_and_removes_and_asks_run_beside_it(tmp_path, data_dir, free_port):
    docs = tmp_path / "docs"
    setup = build_assistant(Settings(data_dir=data_dir))
    setup.ingest([str(write_doc(docs, "amberfield")), str(write_doc(docs, "bluestone"))])
    server = subprocess.Popen([BEACON, "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1", "--port", str(free_port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{free_port}"
    errors: list[str] = []
    stop = threading.Event()
    asked = [0]

    def chat() -> None:
        questions = ["What does the amberfield guideline require?", "What does the copperleaf guideline tell hotel staff?", "What does the bluestone guideline oblige?"]
        while not stop.is_set():
            try:
                ask_server(url, questions[asked[0] % len(questions)])
                asked[0] += 1
            except Exception as exc:  # noqa: BLE001 - every failure counts
                errors.append(repr(exc)[:2000])

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.5)
        ask_server(url, "What does the amberfield guideline require?")
        chatters = [threading.Thread(target=chat) for _ in range(2)]
        for thread in chatters:
            thread.start()
        finished(beacon_cli(data_dir, "ingest", str(write_doc(docs, "copperleaf"))))
        askers = [beacon_cli(data_dir, "ask", "What does the copperleaf guideline tell hotel staff?", "--json") for _ in range(4)]
        finished(beacon_cli(data_dir, "docs", "remove", str(docs / "bluestone.md")))
        answers = [json.loads(finished(p)) for p in askers]
        stop.set()
        for thread in chatters:
            thread.join(timeout=120)
        assert not errors, errors
        assert asked[0] >= 2
        assert all("copperleaf" in {Path(c["source"]).stem for c in a["citations"]} for a in answers)
        assert "copperleaf" in ask_server(url, "What does the copperleaf guideline tell hotel staff?")
        assert "bluestone" not in ask_server(url, "What does the bluestone guideline oblige recruitment agencies to do?")
    finally:
        stop.set()
        stop_process(server)
