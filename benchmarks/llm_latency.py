"""Time to first token and generation speed per answerer mode, on this machine.

    .venv/bin/python benchmarks/llm_latency.py [--max-tokens 128] [--n-ctx 2048] [PATH ...]

Modes: `extractive` (reference: no generation), `llamacpp` (SmolLM2-135M GGUF in process) and
`openai` (the same GGUF behind a local `python -m llama_cpp.server`, so the difference is the
HTTP/SSE path). Questions the refusal gates reject never reach the LLM; they are counted but
left out of the latency columns. Tokens are counted with the model's own tokenizer. Defaults
to knowledge/ plus ../shared/corpus and ../shared/seeds when present. Prints a table; copy it
into BENCHMARKS.md with the machine description.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from assistant.answering.base import DraftDelta, Final
from assistant.answering.generative import NO_ANSWER_IN_SOURCES, NOTHING_SUPPORTED

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import QUESTIONS, free_port  # noqa: E402

from evals.metrics import percentile  # noqa: E402


def start_server(gguf: Path, n_ctx: int, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", str(n_ctx), "--n_threads", str(threads)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                return process, base_url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("llama_cpp.server did not start within 120 s")


def run_mode(beacon, questions: list[str], k: int, count_tokens) -> dict:
    """Ask every question once through `ask_stream`, timing each phase (retrieval included)."""
    rows = []
    for question in questions:
        start = time.perf_counter()
        first = last = None
        parts = []
        for event in beacon.ask_stream(question, k=k):
            if isinstance(event, Final):
                answer = event.answer
                break
            if isinstance(event, DraftDelta):
                now = time.perf_counter()
                first = first or now
                last = now
                parts.append(event.text)
        end = time.perf_counter()
        if answer.refused and answer.refusal_reason not in (NOTHING_SUPPORTED, NO_ANSWER_IN_SOURCES):
            rows.append({"gated": True, "refused": True})
            continue
        draft = "".join(parts)
        tokens = count_tokens(draft)
        rows.append({
            "gated": False,
            "ttft": (first or end) - start,
            "gen": (last or end) - (first or end),
            "tokens": tokens,
            "verify": end - (last or end),
            "total": end - start,
            "kept": sum(s.supported for s in answer.sentences),
            "refused": answer.refused,
        })
    return summarize(rows)


def summarize(rows: list[dict]) -> dict:
    reached = [r for r in rows if not r["gated"]]
    rates = [(r["tokens"] - 1) / r["gen"] for r in reached if r.get("gen", 0) > 0 and r["tokens"] > 1]
    return {
        "questions": len(rows),
        "gated": sum(r["gated"] for r in rows),
        "ttft_p50": percentile([r["ttft"] for r in reached], 0.5),
        "ttft_p95": percentile([r["ttft"] for r in reached], 0.95),
        "tok_s": statistics.median(rates) if rates else float("nan"),
        "tokens": statistics.mean([r["tokens"] for r in reached]) if reached else 0,
        "verify_ms": percentile([r["verify"] * 1000 for r in reached], 0.5),
        "total_p50": percentile([r["total"] for r in reached], 0.5),
        "answered": sum(not r["refused"] for r in reached),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--modes", default="extractive,llamacpp,openai")
    parser.add_argument("--markdown", action="store_true", help="Print the table as Markdown (for BENCHMARKS.md).")
    args = parser.parse_args()

    from llama_cpp import Llama

    from assistant import Settings, build_assistant
    from assistant.llm.catalog import CATALOG, packaged_gguf

    gguf = packaged_gguf(CATALOG["smollm2"])
    vocab = Llama(model_path=str(gguf), vocab_only=True, verbose=False)

    def count_tokens(text: str) -> int:
        return len(vocab.tokenize(text.encode("utf-8"), add_bos=False)) if text else 0

    paths = args.paths
    if not paths:
        candidates = [ROOT / "knowledge", ROOT.parent / "shared" / "corpus", ROOT.parent / "shared" / "seeds"]
        paths = [str(p) for p in candidates if p.exists() and any(p.iterdir())]
    console = Console(width=160)
    results: dict[str, dict] = {}
    loads: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        base = build_assistant(Settings(data_dir=data_dir))
        base.ingest(paths)
        common = {"data_dir": data_dir, "llm_max_tokens": args.max_tokens, "llm_n_ctx": args.n_ctx, "llm_threads": args.threads, "repair_citations": True}
        server = None
        try:
            for mode in args.modes.split(","):
                if mode == "extractive":
                    beacon = base
                elif mode == "llamacpp":
                    beacon = build_assistant(Settings(answerer="llamacpp", llm_model_path=gguf, **common))
                elif mode == "openai":
                    t0 = time.perf_counter()
                    server, base_url = start_server(gguf, args.n_ctx, args.threads)
                    loads[mode] = time.perf_counter() - t0
                    beacon = build_assistant(Settings(answerer="openai", openai_base_url=base_url, **common))
                else:
                    raise SystemExit(f"unknown mode {mode!r}")
                t0 = time.perf_counter()
                beacon.warm_up(background=False)  # loads the local model too
                if mode == "llamacpp":
                    loads[mode] = time.perf_counter() - t0
                # Steady state: build the multilingual index now, which would otherwise share
                # the 2 cores with the model being timed.
                beacon.refresh_multilingual_index()
                run_mode(beacon, QUESTIONS[:1], args.k, count_tokens)  # warm caches and the model
                results[mode] = run_mode(beacon, QUESTIONS, args.k, count_tokens)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=10)

    title = f"Answer latency per mode (SmolLM2-135M Q4_1, k={args.k}, max_tokens={args.max_tokens}, n_ctx={args.n_ctx}, {args.threads} threads)"
    columns = ("mode", "model load s", "to LLM / asked", "TTFT p50 s", "TTFT p95 s", "tokens/s", "tokens/answer", "verify ms p50", "total p50 s", "answered")
    rows = []
    for mode, r in results.items():
        reached = r["questions"] - r["gated"]
        generative = mode != "extractive"
        rows.append([
            mode,
            f"{loads[mode]:.1f}" if mode in loads else "-",
            f"{reached}/{r['questions']}" if generative else "-",
            f"{r['ttft_p50']:.2f}",
            f"{r['ttft_p95']:.2f}",
            f"{r['tok_s']:.1f}" if generative else "-",
            f"{r['tokens']:.0f}" if generative else "-",
            f"{r['verify_ms']:.0f}" if generative else "-",
            f"{r['total_p50']:.2f}",
            f"{r['answered']}/{reached}" if generative else f"{r['answered']}/{r['questions']}",
        ])
    if args.markdown:
        print(f"{title}\n\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        table = Table(title=title)
        for column in columns:
            table.add_column(column, justify="left" if column == "mode" else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    console.print(f"Machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}. "
                  "Extractive: TTFT = whole answer (no streaming).", highlight=False)


if __name__ == "__main__":
    main()
