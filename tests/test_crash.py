"""Crash safety and concurrency on the embedded store, with a real `beacon ingest` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant import Settings, StoreLocked, build_assistant

BEACON = str(Path(sys.executable).with_name("beacon"))
TOPICS = ["demand", "supply chains", "labour migration", "children", "technology", "forced criminality", "referral", "non-punishment"]


def write_library(folder: Path, n: int) -> None:
    folder.mkdir()
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        paragraphs = [
            f"# Brief {i}: {topic}",
            f"## Summary {i}",
            f"Brief number {i} explains how prevention of trafficking addresses {topic} in region {i}.",
        ]
        paragraphs += [f"Paragraph {j} of brief {i} discusses {topic} measures, indicator {i * 100 + j} and partner {j}." for j in range(25)]
        (folder / f"brief-{i:03d}.md").write_text("\n\n".join(paragraphs), encoding="utf-8")


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def start_ingest(data_dir: Path, folder: Path) -> subprocess.Popen:
    return subprocess.Popen([BEACON, "--data-dir", str(data_dir), "ingest", str(folder), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def lock_taken(data_dir: Path) -> bool:
    lock = data_dir / "write.lock"
    return lock.exists() and lock.read_text().startswith("process")


def test_sigkill_mid_ingest_then_rerun_completes_without_duplicates_or_partial_documents(tmp_path):
    library, data_dir = tmp_path / "library", tmp_path / "data"
    write_library(library, 48)
    process = start_ingest(data_dir, library)
    try:
        wait_for(lambda: lock_taken(data_dir), 90, "the ingest process to take the write lock")
        reader = build_assistant(Settings(data_dir=data_dir))
        wait_for(lambda: reader.store.count() > 0, 90, "the first chunks to be written")
        time.sleep(0.5)
        assert process.poll() is None, "ingest finished before it could be killed; make the library larger"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()

    beacon = build_assistant(Settings(data_dir=data_dir))
    partial = beacon.store.count()
    reports = beacon.ingest([str(library)])
    assert {r.status for r in reports} <= {"added", "updated", "unchanged"}, [r.error for r in reports if r.error]
    assert any(r.status == "unchanged" for r in reports), "documents finished before the kill should be kept"
    assert any(r.status == "added" for r in reports), "documents not reached before the kill should be added now"
    assert partial < beacon.store.count()

    documents = beacon.list_documents()
    assert len(documents) == 48
    for doc in documents:
        chunks = beacon.document_chunks(doc.doc_id)
        assert len(chunks) == chunks[0]["n_chunks"], f"{doc.source} is incomplete"
        assert len({c["text_sha"] for c in chunks}) == len(chunks), f"{doc.source} has duplicate chunks"
        assert {c["sha256"] for c in chunks} == {doc.sha256}
    assert sum(d.chunks for d in documents) == beacon.store.count()
    assert {r.status for r in beacon.ingest([str(library)])} == {"unchanged"}


def test_second_writer_is_refused_while_readers_keep_answering(tmp_path):
    library, data_dir = tmp_path / "library", tmp_path / "data"
    write_library(library, 30)
    seed = tmp_path / "seed.md"
    seed.write_text("# Seed\n\nNational Referral Mechanisms co-ordinate the identification of presumed victims.", encoding="utf-8")
    beacon = build_assistant(Settings(data_dir=data_dir))
    beacon.ingest([str(seed)])

    process = start_ingest(data_dir, library)
    try:
        wait_for(lambda: lock_taken(data_dir), 90, "the ingest process to take the write lock")
        with pytest.raises(StoreLocked, match="being changed by process"):
            beacon.ingest([str(seed)])
        answer = beacon.ask("What do National Referral Mechanisms co-ordinate?")
        assert not answer.refused and answer.citations
        assert process.wait(timeout=300) == 0, process.stderr.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
    assert not lock_taken(data_dir)
    assert len(beacon.list_documents()) == 31
