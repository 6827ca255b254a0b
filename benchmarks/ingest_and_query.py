"""Ingestion throughput vs raw encode, unchanged re-ingest, and query latency, on real texts.

    .venv/bin/python benchmarks/ingest_and_query.py [PATH ...]

Defaults to knowledge/ plus ../shared/corpus and ../shared/seeds when present. Query latency is
Beacon's (hybrid retrieval + extractive answer) next to the naive LangChain-tutorial pipeline
(`evals.baselines.NaiveDenseBaseline`: the same documents re-split into 1,000-character pieces,
embedded with the same model in the same process, cosine top-k in memory). Both answer the same
questions, a warm-up then 3 rounds, with the same k; the naive pipeline's build (re-split and
embed) is reported on its own row, not in its latency. The efficiency is the median over
three pairs of (fresh ingest, raw encode of its chunk texts right after it), because this
machine's speed drifts within minutes; next to it, the share of each ingest's own time spent
inside the model's encode. Prints a table; copy
it into BENCHMARKS.md with the machine description.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import QUESTIONS  # noqa: E402

from evals.metrics import percentile  # noqa: E402

ROUNDS = 3  # ingest + raw encode pairs


def main(paths: list[str]) -> None:
    from assistant import Settings, build_assistant
    from assistant.domain.text import index_text
    from evals.baselines import NaiveDenseBaseline

    if not paths:
        candidates = [ROOT / "knowledge", ROOT.parent / "shared" / "corpus", ROOT.parent / "shared" / "seeds"]
        paths = [str(p) for p in candidates if p.exists() and any(p.iterdir())]
    with tempfile.TemporaryDirectory() as tmp:
        beacon = build_assistant(Settings(data_dir=Path(tmp)))
        t0 = time.perf_counter()
        library = beacon.reader()
        library.load_models()
        beacon.chunk_count()  # opening the store (importing Chroma: ~1.5 s) is start-up, as the model load is
        library.embed(["warm-up"])  # the first inference allocates buffers; the raw encode below runs warm too
        load_s = time.perf_counter() - t0

        def timed_ingest() -> tuple[list, float, float]:
            """(reports, seconds, of which inside encode) of one ingest into the empty store."""
            t0 = time.perf_counter()
            done = beacon.ingest(paths)
            return done, time.perf_counter() - t0, sum(r.embed_ms for r in done) / 1000

        # First ingest, then alternately the raw encode of its chunk texts and a fresh ingest
        # (library emptied first): this machine's speed drifts by ±15% within minutes, so each
        # ingest is compared with the raw encode timed right after it.
        reports, first_s, first_encode_s = timed_ingest()
        chunks = sum(r.chunks for r in reports)
        size_mb = sum(Path(r.source).stat().st_size for r in reports if Path(r.source).exists()) / 1e6
        rows = [(c["title"], c.get("heading", ""), c["text"]) for d in beacon.list_documents() for c in beacon.document_chunks(d.doc_id)]
        texts = [index_text(*row) for row in rows]
        ingest_runs, raw_runs, shares = [first_s], [], [first_encode_s / first_s]
        for round_ in range(ROUNDS):
            t0 = time.perf_counter()
            library.embed(texts)
            raw_runs.append(time.perf_counter() - t0)
            if round_ == ROUNDS - 1:
                break
            for document in beacon.list_documents():
                beacon.remove_document(document.doc_id)
            redone, seconds, encode_s = timed_ingest()
            assert sum(r.chunks for r in redone) == chunks and all(r.status == "added" for r in redone)
            ingest_runs.append(seconds)
            shares.append(encode_s / seconds)
        ratios = [raw / ingest for raw, ingest in zip(raw_runs, ingest_runs)]
        raw_s = statistics.median(raw_runs)

        t0 = time.perf_counter()
        again = beacon.ingest(paths)
        unchanged_s = time.perf_counter() - t0
        assert all(r.status == "unchanged" for r in again), "re-ingest should find everything unchanged"

        beacon.ask(QUESTIONS[0])  # warm caches
        timings = {"retrieve": [], "answer": [], "total": []}
        for _ in range(3):
            for q in QUESTIONS:
                answer = beacon.ask(q)
                for key in timings:
                    timings[key].append(answer.timings_ms[key])

        k = beacon.settings.top_k
        naive = NaiveDenseBaseline(beacon.reader())
        t0 = time.perf_counter()
        naive.build()
        naive_build_s = time.perf_counter() - t0
        naive_pieces = naive.piece_count
        naive.ask(QUESTIONS[0], k)  # warm caches, as for Beacon
        naive_total: list[float] = []
        for _ in range(3):
            for q in QUESTIONS:
                naive_total.append(naive.ask(q, k).timings_ms["total"])

    table = Table(title=f"Beacon ingest and query ({len(reports)} documents, {chunks} chunks, {size_mb:.2f} MB)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("model load, warm-up encode and store open (s)", f"{load_s:.2f}")
    table.add_row("first ingest (s)", f"{first_s:.2f}")
    table.add_row("ingest throughput (chunks/s)", f"{chunks / first_s:.1f}")
    table.add_row("ingest throughput (MB/min)", f"{size_mb / first_s * 60:.2f}")
    table.add_row("raw encode of the same chunks (chunks/s, median)", f"{chunks / raw_s:.1f}")
    table.add_row(
        f"pipeline efficiency (ingest / raw encode right after it; median of {len(ratios)})",
        f"{statistics.median(ratios):.0%} ({' '.join(f'{r:.0%}' for r in ratios)})",
    )
    table.add_row("share of the ingest spent in encode (same run)", " ".join(f"{v:.0%}" for v in shares))
    table.add_row("unchanged re-ingest (s)", f"{unchanged_s:.3f}")
    table.add_row("re-ingest speed-up", f"{first_s / unchanged_s:.0f}x")
    for key, values in timings.items():
        table.add_row(f"{key} p50 / p95 (ms)", f"{statistics.median(values):.1f} / {percentile(values, 0.95):.1f}")
    table.add_row(f"naive LangChain-tutorial pipeline: total p50 / p95 (ms, k={k})", f"{statistics.median(naive_total):.1f} / {percentile(naive_total, 0.95):.1f}")
    table.add_row(f"naive pipeline build: re-split + embed {naive_pieces} pieces (s)", f"{naive_build_s:.2f}")
    Console(width=180).print(table)


if __name__ == "__main__":
    main(sys.argv[1:])
