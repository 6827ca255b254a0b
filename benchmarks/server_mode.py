"""Beacon in Chroma client/server mode vs the embedded store, on the same small library.

    .venv/bin/python benchmarks/server_mode.py [--rounds 3] [PATH ...]

Starts a real Chroma server (`.venv/bin/chroma run --path <tmp> --host 127.0.0.1 --port <free>`,
waited for on /api/v2/heartbeat), then ingests the library (default knowledge/) twice in this
process: once with Settings(chroma_host="127.0.0.1", chroma_port=<port>) and once embedded,
each into its own temporary data folder. Each assistant's model is loaded before its ingest is
timed. Then both answer the shared questions (`common.QUESTIONS`): one warm-up pass each, then
`--rounds` rounds, alternating the two modes within each round so that background load hits
both alike. The server runs on the same machine, so its CPU use competes with Beacon's; the
numbers show the cost of the HTTP hop, not of a remote network. The server is stopped at the
end whatever happens. Prints a table; copy it into BENCHMARKS.md with the machine description.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import QUESTIONS, free_port  # noqa: E402
from load import stop_server  # noqa: E402

from evals.metrics import percentile  # noqa: E402


def start_chroma(path: Path, log) -> tuple[subprocess.Popen, int]:
    """`chroma run` on a free loopback port, once its heartbeat answers."""
    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.is_file():
        raise SystemExit(f"{chroma} is missing: the `chroma` CLI ships with chromadb, reinstall with `pip install -e .`")
    port = free_port()
    process = subprocess.Popen([str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/v2/heartbeat"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"`chroma run` exited with {process.returncode} before answering; see {log.name}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return process, port
        except OSError:
            time.sleep(0.2)
    stop_server(process)
    raise SystemExit(f"`chroma run` did not answer {url} within 60 s; see {log.name}")


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def p50_p95(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} / {percentile(values, 0.95):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="Files or folders to ingest (default: knowledge/).")
    parser.add_argument("--rounds", type=int, default=3, help="Timed rounds over the questions after the warm-up (default 3).")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    paths = args.paths or [str(ROOT / "knowledge")]

    from assistant import Settings, build_assistant

    with tempfile.TemporaryDirectory(prefix="beacon-server-mode-") as tmp, open(Path(tmp) / "chroma.log", "wb") as log:
        tmp_path = Path(tmp)
        server, port = start_chroma(tmp_path / "chroma-server", log)
        try:
            modes = {
                "server": build_assistant(Settings(data_dir=tmp_path / "server-local", chroma_host="127.0.0.1", chroma_port=port)),
                "embedded": build_assistant(Settings(data_dir=tmp_path / "embedded")),
            }
            results: dict[str, dict] = {}
            for name, beacon in modes.items():
                beacon.reader().load_models()
                t0 = time.perf_counter()
                reports = beacon.ingest(paths)
                ingest_s = time.perf_counter() - t0
                failed = [r for r in reports if r.status == "failed"]
                if failed:
                    raise SystemExit(f"{name}: ingest failed: {[(r.source, r.error) for r in failed]}")
                results[name] = {
                    "ingest_s": ingest_s,
                    "documents": len(reports),
                    "chunks": sum(r.chunks for r in reports),
                    "retrieve": [],
                    "total": [],
                }
            if (tmp_path / "server-local" / "chroma").exists():
                raise SystemExit("server mode created an embedded store: the host/port settings did not reach the client")

            for beacon in modes.values():
                for q in QUESTIONS:  # warm-up: caches, HNSW index, BM25 index, HTTP connections
                    beacon.ask(q)
            for _ in range(args.rounds):
                for name, beacon in modes.items():
                    for q in QUESTIONS:
                        answer = beacon.ask(q)
                        results[name]["retrieve"].append(answer.timings_ms["retrieve"])
                        results[name]["total"].append(answer.timings_ms["total"])
            server_rss = peak_rss_mb(server.pid)
        finally:
            stop_server(server)

    first = next(iter(results.values()))
    table = Table(
        title=f"Beacon with a Chroma server vs embedded ({first['documents']} documents, {first['chunks']} chunks, "
        f"{len(QUESTIONS)} questions × {args.rounds} rounds)",
        caption="server: `chroma run` on 127.0.0.1, same machine" + (f", its peak RSS {server_rss:.0f} MB" if server_rss else ""),
    )
    table.add_column("mode")
    for column in ("ingest (s)", "chunks", "retrieve p50 / p95 (ms)", "total p50 / p95 (ms)"):
        table.add_column(column, justify="right")
    for name, r in results.items():
        table.add_row(name, f"{r['ingest_s']:.2f}", str(r["chunks"]), p50_p95(r["retrieve"]), p50_p95(r["total"]))
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
