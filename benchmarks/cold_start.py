"""Cold start of `beacon serve`: from process start to the web UI answering, and to the first answer.

    .venv/bin/python benchmarks/cold_start.py [--data-dir DIR] [--runs 3] [--timeout 120] [--json]

Each run starts a fresh `beacon serve --host 127.0.0.1 --port <free port>` over `--data-dir`
(BEACON_DATA_DIR) and times (a) until GET / returns 200, which `beacon serve` only does after
loading the model and the indexes, and (b) until the first question (`common.QUESTIONS[0]`) is
answered through `gradio_client` on the "Ask" endpoint (`/ask`), connection included, the way
a browser's first question would be (the client's connect time also has its own row). Before
stopping the server it reads the serving process's peak RSS (VmHWM in /proc/<pid>/status,
Linux only). The target is at most 10 s to the first answer.

Without `--data-dir` a temporary folder is used; an empty folder gets knowledge/ ingested
first, which is not timed; nor is the one-time ONNX export of the embedding model (made here
if the cache has none). The first run on a new library also builds its multilingual index in
the background, which competes for the CPUs with the start. Server start, polling and stop
come from `load.py`; it polls every 0.1 s here, so (a) may be up to 0.1 s late. (b) stops at
the answer, before the client's own shutdown. "Cold" means a new process: the OS file cache
is warm from the previous run (and from the ingest), so the first run may be the slowest.
Prints a table (and JSON with `--json`); exits 1 if a run did not answer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from gradio_client import Client  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QUESTIONS, peak_rss_mb  # noqa: E402
from load import ROOT, answer_problem, start_server, stop_server  # noqa: E402

TARGET_S = 10.0
POLL_S = 0.1


def ensure_library(data_dir: Path) -> None:
    """Ingest knowledge/ into an empty (or missing) data folder, untimed."""
    if data_dir.exists() and any(data_dir.iterdir()):
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    beacon = str(Path(sys.executable).parent / "beacon")
    env = {**os.environ, "BEACON_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    print(f"Ingesting knowledge/ into {data_dir} (not timed) …", file=sys.stderr)
    subprocess.run([beacon, "ingest", str(ROOT / "knowledge")], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, check=True, timeout=900)


def ensure_query_runtime() -> None:
    """Make the ONNX export of the embedding model now if this machine has none (once, untimed):
    the first `beacon serve` on a new machine spends ~15 s on it."""
    from assistant import Settings, build_assistant

    build_assistant(Settings()).reader().load_models()


def one_run(data_dir: Path, question: str, timeout: float, log) -> dict:
    started = time.perf_counter()
    server, url = start_server(data_dir, log, POLL_S)  # returns once GET / is 200
    http_s = time.perf_counter() - started
    answer_s = connect_s = None
    try:
        try:
            connecting = time.perf_counter()
            client = Client(url, verbose=False, analytics_enabled=False)
            connect_s = time.perf_counter() - connecting
            try:
                result = client.submit(question, api_name="/ask").result(timeout=timeout)
                answer_s = time.perf_counter() - started  # the client's own shutdown (~1 s) is not the server's
            finally:
                client.close()
        except Exception as exc:  # timeout, AppError, connection errors: the run failed
            answer_s, problem = None, f"{type(exc).__name__}: {exc}"[:300]
        else:
            problem = answer_problem(result)
        rss = peak_rss_mb(server.pid)
    finally:
        stop_server(server)
    return {"http_s": http_s, "connect_s": connect_s, "answer_s": answer_s, "peak_rss_mb": rss, "problem": problem}


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, help="Data folder to serve (knowledge/ is ingested when empty; default: a temporary folder).")
    parser.add_argument("--runs", type=int, default=3, help="Server starts to time (default 3).")
    parser.add_argument("--timeout", type=float, default=120, help="Time limit of the first question in seconds (default 120).")
    parser.add_argument("--json", action="store_true", help="Also print the results as JSON.")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    with tempfile.TemporaryDirectory(prefix="beacon-cold-start-") as tmp:
        data_dir = (args.data_dir or Path(tmp) / "data").resolve()
        ensure_library(data_dir)
        ensure_query_runtime()
        runs = []
        with tempfile.NamedTemporaryFile("w", prefix="beacon-serve-", suffix=".log", delete=False) as log:
            for i in range(args.runs):
                run = one_run(data_dir, QUESTIONS[0], args.timeout, log)
                print(f"run {i + 1}/{args.runs}: HTTP 200 after {run['http_s']:.2f} s, first answer after {fmt(run['answer_s'])} s", file=sys.stderr)
                runs.append(run)
    failed = [r["problem"] for r in runs if r["problem"]]
    if failed:
        print(f"Server log kept: {log.name}", file=sys.stderr)
    else:
        os.unlink(log.name)

    http = [r["http_s"] for r in runs]
    answer = [r["answer_s"] for r in runs if r["answer_s"] is not None]
    rss = [r["peak_rss_mb"] for r in runs if r["peak_rss_mb"] is not None]
    table = Table(
        title=f"Beacon cold start: `beacon serve` to first answer ({args.runs} runs, {os.cpu_count()} CPUs)",
        caption=f"seconds from process start; polling resolution {POLL_S:g} s; target ≤ {TARGET_S:g} s to first answer",
    )
    table.add_column("measure")
    for column in ("p50", "max", "runs"):
        table.add_column(column, justify="right")
    table.add_row("to GET / = 200 (s)", fmt(statistics.median(http)), fmt(max(http)), " ".join(fmt(v) for v in http))
    table.add_row(
        "to first answer via /ask (s)",
        fmt(statistics.median(answer)) if answer else "n/a",
        fmt(max(answer)) if answer else "n/a",
        " ".join(fmt(r["answer_s"]) for r in runs),
        style="green" if answer and not failed and max(answer) <= TARGET_S else "red",
    )
    connect = [r["connect_s"] for r in runs if r["connect_s"] is not None]
    table.add_row(
        "  of which gradio_client connect (s)",
        fmt(statistics.median(connect)) if connect else "n/a",
        fmt(max(connect)) if connect else "n/a",
        " ".join(fmt(r["connect_s"]) for r in runs),
    )
    table.add_row(
        "serving peak RSS, VmHWM (MB)",
        fmt(statistics.median(rss), 0) if rss else "n/a",
        fmt(max(rss), 0) if rss else "n/a",
        " ".join(fmt(r["peak_rss_mb"], 0) for r in runs),
    )
    console = Console(width=160)
    console.print(table)
    for problem in failed:
        console.print(f"[red]error:[/red] {problem}", markup=True, highlight=False)
    if args.json:
        print(json.dumps({"runs": runs, "target_s": TARGET_S}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
