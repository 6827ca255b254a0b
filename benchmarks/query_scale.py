"""Query latency and serving memory at 1k, 10k and 100k chunks (synthetic library from real text).

    .venv/bin/python benchmarks/query_scale.py [--sizes 1000 10000 100000] [--questions 40]

Chunks are built from real sentences (knowledge/ and ../shared) recombined deterministically.
Up to `--embed-limit` chunks are embedded for real; beyond that, each further chunk reuses the
vector of a real chunk plus small noise, so that a 100k library can be built on a laptop in
minutes. Retrieval cost (HNSW + BM25 + fusion) does not depend on how the vectors were made.
Each size is measured in a fresh subprocess so peak RSS is that of a serving process.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import QUESTIONS, peak_rss_mb  # noqa: E402

from evals.metrics import percentile  # noqa: E402


def real_sentences() -> list[str]:
    from assistant.domain.text import split_sentences

    folders = [ROOT / "knowledge", ROOT.parent / "shared" / "corpus", ROOT.parent / "shared" / "seeds"]
    sentences: list[str] = []
    for folder in folders:
        for path in sorted(folder.glob("*")) if folder.exists() else []:
            if path.suffix in (".md", ".txt"):
                sentences += [s for s in split_sentences(path.read_text(encoding="utf-8")) if len(s) > 40]
    return sentences


def build(data_dir: Path, size: int, embed_limit: int) -> dict:
    import numpy as np

    from assistant import Settings, build_assistant
    from assistant.domain.text import index_text

    beacon = build_assistant(Settings(data_dir=data_dir))
    sentences = real_sentences()
    rng = random.Random(size)
    per_doc = 100
    texts = [" ".join(rng.sample(sentences, 4)) for _ in range(size)]
    started = time.perf_counter()
    n_real = min(size, embed_limit)
    titles = [f"Synthetic brief {i // per_doc}" for i in range(size)]
    real = beacon.reader().embed([index_text(titles[i], "", texts[i]) for i in range(n_real)])
    noise_rng = np.random.default_rng(size)
    vectors = np.empty((size, real.shape[1]), dtype=np.float32)
    vectors[:n_real] = real
    for start in range(n_real, size, 10_000):
        end = min(size, start + 10_000)
        base = real[noise_rng.integers(0, n_real, end - start)]
        noisy = base + noise_rng.normal(0, 0.05, base.shape).astype(np.float32)
        vectors[start:end] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    embed_s = time.perf_counter() - started
    started = time.perf_counter()

    def documents():
        for d, start in enumerate(range(0, size, per_doc)):
            rows = range(start, min(size, start + per_doc))
            doc_id = f"synthetic-{d:05d}"
            metas = [
                {"doc_id": doc_id, "source": f"synthetic/{doc_id}.md", "title": titles[i], "sha256": doc_id, "format": "markdown",
                 "doc_type": ["treaty", "report", "conference"][d % 3], "year": 2000 + d % 25, "locator": f"§ Part {i - start}",
                 "heading": "", "position": i - start, "n_chunks": len(rows), "text_sha": f"{doc_id}-{i}", "chunker": "synthetic"}
                for i in rows
            ]
            yield [f"{doc_id}:{i:06d}" for i in rows], [texts[i] for i in rows], metas, vectors[list(rows)]

    loader = beacon.bulk_loader()
    loader.write(documents())
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    loader.finish()
    bm25_s = time.perf_counter() - started
    return {"embed_s": embed_s, "write_s": write_s, "bm25_build_s": bm25_s}


def measure(data_dir: Path, n_questions: int) -> dict:
    """Runs in a fresh process: cold start to first answer, then latency percentiles and RSS."""
    started = time.perf_counter()
    from assistant import Settings, build_assistant

    beacon = build_assistant(Settings(data_dir=data_dir))
    beacon.ask(QUESTIONS[0])
    cold_s = time.perf_counter() - started
    timings: dict[str, list[float]] = {"retrieve": [], "answer": [], "total": []}
    filtered: list[float] = []
    for i in range(n_questions):
        answer = beacon.ask(QUESTIONS[i % len(QUESTIONS)])
        for key in timings:
            timings[key].append(answer.timings_ms[key])
        filtered.append(beacon.ask(QUESTIONS[i % len(QUESTIONS)], filters={"doc_type": "treaty"}).timings_ms["retrieve"])

    result = {f"{k}_p50": statistics.median(v) for k, v in timings.items()}
    result.update({f"{k}_p95": percentile(v, 0.95) for k, v in timings.items()})
    result["filtered_retrieve_p50"] = statistics.median(filtered)
    result["cold_start_s"] = cold_s
    result["peak_rss_mb"] = peak_rss_mb()  # not ru_maxrss: it would report the building parent's peak
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--embed-limit", type=int, default=5000)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.questions)))
        return

    from rich.console import Console
    from rich.table import Table

    table = Table(title="Beacon query latency by library size (ms unless stated)")
    for column in ["chunks", "build (embed/write/bm25 s)", "retrieve p50/p95", "answer p50/p95", "total p50/p95", "filtered retrieve p50", "cold start to 1st answer (s)", "serving peak RSS (MB)"]:
        table.add_column(column, justify="right")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            built = build(Path(tmp), size, args.embed_limit)
            out = subprocess.run([sys.executable, __file__, "--measure", tmp, "--questions", str(args.questions)], capture_output=True, text=True, check=True)
            m = json.loads(out.stdout.strip().splitlines()[-1])
        table.add_row(
            f"{size:,}",
            f"{built['embed_s']:.0f}/{built['write_s']:.0f}/{built['bm25_build_s']:.0f}",
            f"{m['retrieve_p50']:.1f}/{m['retrieve_p95']:.1f}",
            f"{m['answer_p50']:.1f}/{m['answer_p95']:.1f}",
            f"{m['total_p50']:.1f}/{m['total_p95']:.1f}",
            f"{m['filtered_retrieve_p50']:.1f}",
            f"{m['cold_start_s']:.1f}",
            f"{m['peak_rss_mb']:.0f}",
        )
    Console(width=180).print(table)


if __name__ == "__main__":
    main()
