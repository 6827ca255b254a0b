"""Crash safety and concurrency on the embedded store, with a real `beacon ingest` process."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant import Settings, StoreLocked, build_assistant
from assistant.records.journal import PendingChanges

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
        wait_for(lambda: reader.chunk_count() > 0, 90, "the first chunks to be written")
        time.sleep(0.5)
        assert process.poll() is None, "ingest finished before it could be killed; make the library larger"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()

    beacon = build_assistant(Settings(data_dir=data_dir))
    partial = beacon.chunk_count()
    reports = beacon.ingest([str(library)])
    assert {r.status for r in reports} <= {"added", "updated", "unchanged"}, [r.error for r in reports if r.error]
    assert any(r.status == "unchanged" for r in reports), "documents finished before the kill should be kept"
    assert any(r.status == "added" for r in reports), "documents not reached before the kill should be added now"
    assert partial < beacon.chunk_count()

    documents = beacon.list_documents()
    assert len(documents) == 48
    for doc in documents:
        chunks = beacon.document_chunks(doc.doc_id)
        assert len(chunks) == chunks[0]["n_chunks"], f"{doc.source} is incomplete"
        assert len({c["text_sha"] for c in chunks}) == len(chunks), f"{doc.source} has duplicate chunks"
        assert {c["sha256"] for c in chunks} == {doc.sha256}
    assert sum(d.chunks for d in documents) == beacon.chunk_count()
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


# -- a SIGKILL at any point of a library change: the next start finishes or undoes it ---------------
# Each document has words no other one has, so a search or an answer that finds it is unambiguous.
POOL = {
    "amberfield": "The amberfield protocol requires labour inspectors to visit seasonal farms every month.",
    "bluestone": "The bluestone charter obliges recruitment agencies to refund every fee charged to migrant workers.",
    "copperleaf": "The copperleaf guideline tells hotel staff to report guests who hold other people's passports.",
    "driftwood": "The driftwood programme trains fishing crews to recognise debt bondage on distant vessels.",
    "emberlake": "The emberlake directive makes shelters for child victims open every night of the year.",
    "frostvale": "The frostvale agreement lets prosecutors share financial records of suspected traffickers.",
}

# A process that changes the library and can be made to SIGKILL itself just before or after
# the n-th call of a function (`kill`: ["module:Class.method", "before"|"after", n]).
DRIVER = r"""
import importlib, json, os, random, signal, sys
from assistant import Settings, build_assistant
from assistant.domain.errors import NotFound

data_dir, plan = sys.argv[1], json.loads(sys.argv[2])
if plan.get("kill"):
    target, when, nth = plan["kill"]
    module, attribute = target.split(":")
    owner_name, method = attribute.split(".")
    owner = getattr(importlib.import_module(module), owner_name)
    real, calls = getattr(owner, method), []

    def killing(*args, **kwargs):
        calls.append(1)
        if when == "before" and len(calls) == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        result = real(*args, **kwargs)
        if when == "after" and len(calls) == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, method, killing)
beacon = build_assistant(Settings(data_dir=data_dir))
beacon.reader().embed(["warm up"])
print("ready", flush=True)
rng = random.Random(plan.get("seed", 0))
ops = plan.get("ops") or [rng.choice([["ingest", p], ["remove", p], ["update", p]]) for p in rng.choices(plan["pool"], k=400)]
for op, path in ops:
    if op == "update":  # a new version of the file: an "updated" write
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"\n\nRevision {rng.randrange(10**6)} of this guideline keeps its rules.\n")
        op = "ingest"
    if op == "ingest":
        beacon.ingest([path])
    else:
        try:
            beacon.remove_document(path)
        except NotFound:
            pass
print("finished", flush=True)
"""


def write_pool(folder: Path, names=POOL) -> dict[str, Path]:
    folder.mkdir(exist_ok=True)
    paths = {}
    for name in names:
        paths[name] = folder / f"{name}.md"
        paths[name].write_text(f"# The {name} guideline\n\n{POOL[name]}\n", encoding="utf-8")
    return paths


def run_driver(data_dir: Path, plan: dict, kill_after_s: float | None = None, timeout: float = 120) -> int:
    """Run DRIVER to its end, its own SIGKILL, or ours `kill_after_s` after it is ready; its exit code."""
    process = subprocess.Popen([sys.executable, "-c", DRIVER, str(data_dir), json.dumps(plan)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = process.stdout.readline()
        if kill_after_s is not None and ready.startswith("ready"):
            time.sleep(kill_after_s)
            process.kill()
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert ready.startswith("ready") or process.returncode == -signal.SIGKILL, process.stderr.read()
    return process.returncode


def cited(beacon, name: str) -> set[str]:
    """Sources of the answer to the question only `name`'s document answers."""
    answer = beacon.ask(f"What does the {name} guideline require?")
    return {Path(c.source).stem for c in answer.citations}


def keyword_hits(beacon, name: str) -> set[str]:
    return {Path(meta["source"]).stem for _id, _text, meta, _score in beacon.reader().bm25(name, 10)}


def assert_library_agrees(beacon, pool: dict[str, Path]) -> None:
    """Store, keyword index, audit log and `docs list` tell the same story, and no answer
    cites a document that is not in the library."""
    listed = {d.doc_id: d for d in beacon.list_documents()}  # settles what a killed writer left
    assert not PendingChanges(beacon.settings.paths.pending).records(), "a change was left pending"
    stored: dict[str, dict] = {}
    for chunk_id, _text, meta in beacon.reader().chunks():
        stored.setdefault(meta["doc_id"], {})[chunk_id] = meta
    assert set(stored) == set(listed)
    for doc_id, chunks in stored.items():
        assert {m["sha256"] for m in chunks.values()} == {listed[doc_id].sha256}, f"{doc_id} mixes two versions"
        assert {m["n_chunks"] for m in chunks.values()} == {len(chunks)}, f"{doc_id} is incomplete"
    assert set(beacon.reader().bm25_chunk_ids()) == {cid for chunks in stored.values() for cid in chunks}
    last_action: dict[str, str] = {}
    for entry in beacon.audit_log.entries():
        last_action[entry["doc_id"]] = entry["action"]
    assert {d for d, action in last_action.items() if action != "removed"} == set(listed), "the audit log disagrees with the library"
    present = {Path(d.source).stem for d in listed.values()}
    for name in pool:
        if name not in present:
            assert name not in cited(beacon, name) | keyword_hits(beacon, name), f"removed {name} is still found"


def test_a_removal_killed_before_the_revision_bump_is_finished_and_never_quoted(tmp_path, data_dir):
    pool = write_pool(tmp_path / "library", ["amberfield", "bluestone"])
    beacon = build_assistant(Settings(data_dir=data_dir))  # a running server
    beacon.ingest([str(p) for p in pool.values()])
    assert "amberfield" in cited(beacon, "amberfield")

    code = run_driver(data_dir, {"ops": [["remove", str(pool["amberfield"])]], "kill": ["assistant.library.store:ChunkStore.bump_revision", "before", 1]})
    assert code == -signal.SIGKILL

    assert "amberfield" not in cited(beacon, "amberfield") | keyword_hits(beacon, "amberfield")
    fresh = build_assistant(Settings(data_dir=data_dir))  # the next command
    assert "amberfield" not in cited(fresh, "amberfield") | keyword_hits(fresh, "amberfield")
    assert [e["action"] for e in fresh.audit_log.entries() if Path(e["source"]).stem == "amberfield"] == ["added", "removed"]
    assert_library_agrees(fresh, pool)


def test_an_ingest_killed_before_the_revision_bump_is_searchable_and_audited(tmp_path, data_dir):
    pool = write_pool(tmp_path / "library", ["amberfield", "bluestone"])
    beacon = build_assistant(Settings(data_dir=data_dir))
    beacon.ingest([str(pool["amberfield"])])
    beacon.ask("What does the amberfield guideline require?")  # keyword index built and saved

    code = run_driver(data_dir, {"ops": [["ingest", str(pool["bluestone"])]], "kill": ["assistant.library.store:ChunkStore.bump_revision", "before", 1]})
    assert code == -signal.SIGKILL

    fresh = build_assistant(Settings(data_dir=data_dir))
    assert "bluestone" in keyword_hits(fresh, "bluestone")
    assert "bluestone" in cited(fresh, "bluestone")
    assert "bluestone" in keyword_hits(beacon, "bluestone"), "the running server sees it too"
    assert_library_agrees(fresh, pool)


@pytest.mark.parametrize(
    "kill",
    [["assistant.library.store:ChunkStore.write_document", "after", 2], ["assistant.records.journal:AuditLog.record", "before", 1]],
    ids=["after-the-second-write", "before-the-first-audit-entry"],
)
def test_every_stored_document_is_audited_after_a_kill_mid_batch(tmp_path, data_dir, kill):
    pool = write_pool(tmp_path / "library", ["amberfield", "bluestone", "copperleaf"])
    code = run_driver(data_dir, {"ops": [["ingest", str(p)] for p in pool.values()], "kill": kill})
    assert code == -signal.SIGKILL

    beacon = build_assistant(Settings(data_dir=data_dir))
    listed = beacon.list_documents()
    assert listed, "some documents were stored before the kill"
    audited = {e["doc_id"] for e in beacon.audit_log.entries() if e["action"] == "added"}
    assert {d.doc_id for d in listed} == audited
    assert_library_agrees(beacon, pool)


CHAOS_KILLS = [
    None,  # killed by the test at a random moment
    ["assistant.library.store:ChunkStore.bump_revision", "before", 2],
    ["assistant.library.store:ChunkStore.bump_revision", "after", 3],
    ["assistant.records.journal:AuditLog.record", "before", 2],
    ["assistant.records.journal:PendingChanges.begin", "after", 3],
    ["assistant.records.journal:PendingChanges.finish", "before", 2],
    ["assistant.library.catalogue:LexicalIndex.save", "before", 2],
]


def test_chaos_sigkill_ingests_and_removals_at_random_points(tmp_path, data_dir):
    """N rounds: a process ingests, updates and removes documents at random until it is
    killed (at a random moment, or at a random step of a change); after each round the store,
    the keyword index, the audit log and `docs list` agree, and removed documents are never cited."""
    pool = write_pool(tmp_path / "library")
    beacon = build_assistant(Settings(data_dir=data_dir))  # a long-running reader, like a server
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "15")))
    deadline, rounds = time.monotonic() + 100, 0
    while rounds < 8 and time.monotonic() < deadline:
        plan = {"pool": [str(p) for p in pool.values()], "seed": rng.randrange(10**9), "kill": rng.choice(CHAOS_KILLS)}
        run_driver(data_dir, plan, kill_after_s=rng.uniform(0.2, 2.5))
        assert_library_agrees(beacon, pool)
        assert_library_agrees(build_assistant(Settings(data_dir=data_dir)), pool)
        rounds += 1
        print(f"round {rounds}: kill {plan['kill']}, {len(beacon.list_documents())} documents, {len(beacon.audit_log.entries())} audit entries")
    assert rounds >= 3, "too few rounds in the time budget"


# -- kept originals and extracted texts: nothing lost, nothing left behind -------------------------
def kept_files(data_dir: Path) -> set[str]:
    """Every file in the kept originals and texts folders, as "originals/NAME" / "texts/NAME"."""
    return {f"{folder}/{p.name}" for folder in ("originals", "texts") if (data_dir / folder).is_dir() for p in (data_dir / folder).iterdir()}


def files_in_use(beacon) -> set[str]:
    """The kept files the stored documents refer to (their original and their text), each
    checked to exist and `beacon show` checked to print the document's text."""
    from typer.testing import CliRunner

    from assistant.cli.main import app

    used = set()
    for doc in beacon.list_documents():
        meta = beacon.document_chunks(doc.doc_id)[0]
        original = beacon.original_file(doc.doc_id)
        assert original.is_file() and original.name.startswith(meta["sha256"]), f"{doc.source} lost its original"
        text = beacon.document_text(doc.doc_id)  # NotFound if its text was lost
        shown = CliRunner().invoke(app, ["--data-dir", str(beacon.settings.data_dir), "show", doc.doc_id])
        assert shown.exit_code == 0 and " ".join(text.split())[:60] in " ".join(shown.stdout.split()), shown.output
        used |= {f"originals/{original.name}", f"texts/{meta['text_sha256']}.txt"}
    return used


@pytest.mark.parametrize(
    "kill",
    [
        ["assistant.library.documents:DocumentFiles.save", "after", 2],  # a version's files kept, its chunks never stored
        ["assistant.library.store:ChunkStore.write_document", "after", 1],  # a new version stored, the old one's files not yet deleted
        ["pathlib:Path.write_bytes", "after", 1],  # an original half-way: its temp file written, not yet renamed
    ],
    ids=["files-kept-chunks-not-stored", "old-version-not-forgotten", "original-half-written"],
)
def test_sigkill_while_keeping_originals_and_texts_loses_nothing_and_leaves_nothing(tmp_path, data_dir, kill):
    pool = write_pool(tmp_path / "library", ["amberfield", "bluestone", "copperleaf"])
    build_assistant(Settings(data_dir=data_dir)).ingest([str(pool["amberfield"])])
    ops = [["update", str(pool["amberfield"])], ["ingest", str(pool["bluestone"])], ["ingest", str(pool["copperleaf"])]]
    assert run_driver(data_dir, {"ops": ops, "kill": kill}) == -signal.SIGKILL

    beacon = build_assistant(Settings(data_dir=data_dir))  # the next start
    in_use = files_in_use(beacon)  # every stored document has its original and its text
    left = kept_files(data_dir) - in_use
    assert left, "the kill left no unreferenced file: it did not hit the window this test is about"

    for path in pool.values():  # new versions: what the killed writer kept is never referenced again
        path.write_text(path.read_text(encoding="utf-8") + "\nThis version was revised after the crash.\n", encoding="utf-8")
    reports = beacon.ingest([str(p) for p in pool.values()])
    assert {r.status for r in reports} <= {"added", "updated"}, [r.error for r in reports if r.error]
    assert len(beacon.list_documents()) == 3
    assert kept_files(data_dir) == files_in_use(beacon), "files a killed writer left were not swept"
    assert_library_agrees(beacon, pool)
    assert {r.status for r in beacon.ingest([str(p) for p in pool.values()])} == {"unchanged"}
