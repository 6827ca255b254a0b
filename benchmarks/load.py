"""Load test of the web UI: N concurrent chat sessions against a running Beacon server.

    .venv/bin/python benchmarks/load.py [--url http://127.0.0.1:7860] [--sessions 20] [--duration 60]
    .venv/bin/python benchmarks/load.py --start-server --data-dir /tmp/loadtest [--sessions 20] [--duration 30] [--json]

Each session is a real chat client (`gradio_client.Client`) calling the "Ask" button's
endpoint (`/ask`) the way the browser does; the server keeps each session's conversation, and
after a few turns the session starts a new one (a fresh Gradio session, as "New conversation"
has no public endpoint). Questions cycle through the shared mix in `common.py`, refusals
included. A request counts when its final answer arrives; it is an error when it raises, times
out, or the chat shows an error bubble instead of an answer or a refusal. Latency includes
waiting in Gradio's queue (`ask` runs at most `BEACON_UI_CONCURRENCY`, default 4, at a time).

With `--start-server` the script serves `--data-dir` itself on a free 127.0.0.1 port (ingesting
knowledge/ first when the folder is empty) and stops the server at the end; the server takes its
other settings from the BEACON_* environment (extractive answers unless BEACON_ANSWERER says
otherwise). Without users file and on loopback the server is a single local admin, so no login.
No new request starts after `--duration` seconds; one in flight may take up to `--timeout` more.
Prints a table (and JSON with `--json`); exits 1 if any request failed or none completed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # gradio_client phones home otherwise
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import httpx  # noqa: E402
from gradio_client import Client  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QUESTIONS, free_port  # noqa: E402

from evals.metrics import percentile  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAX_DURATION = 600
TURNS_PER_CONVERSATION = 5


class Results:
    """Latencies and errors, shared by the session threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def ok(self, seconds: float) -> None:
        with self.lock:
            self.latencies.append(seconds)

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message[:300])


def answer_problem(result) -> str | None:
    """Why the final `/ask` output is not an answer (or a refusal), or None when it is one."""
    chat = result[1] if isinstance(result, (list, tuple)) and len(result) > 1 else None
    if not chat or chat[-1].get("role") != "assistant":
        return f"no answer in the chat: {str(result)[:200]}"
    content = chat[-1].get("content")
    text = " ".join(part.get("text", "") for part in content) if isinstance(content, list) else str(content)
    if "beacon-error" in text:
        return f"error bubble: {text[:200]}"
    if "Searching the library" in text:
        return "the answer never replaced the pending message"
    return None


def run_session(client: Client, index: int, deadline: float, timeout: float, results: Results) -> None:
    """Ask questions back to back until the deadline, each with its own time limit."""
    turn = 0
    while time.monotonic() < deadline:
        if turn and turn % TURNS_PER_CONVERSATION == 0:
            client.reset_session()  # a new conversation: fresh server-side state
        question = QUESTIONS[(index + turn) % len(QUESTIONS)]
        turn += 1
        started = time.perf_counter()
        try:
            job = client.submit(question, api_name="/ask")
            result = job.result(timeout=timeout)
        except TimeoutError:
            job.cancel()
            results.error(f"timeout after {timeout:.0f}s: {question}")
            continue
        except Exception as exc:  # AppError, connection errors: all count
            results.error(f"{type(exc).__name__}: {exc}")
            continue
        problem = answer_problem(result)
        if problem:
            results.error(problem)
        else:
            results.ok(time.perf_counter() - started)


def load_test(url: str, sessions: int, duration: float, timeout: float) -> dict:
    results = Results()

    def connect(_):
        try:
            return Client(url, verbose=False, analytics_enabled=False)
        except Exception as exc:
            results.error(f"connect: {type(exc).__name__}: {exc}")
            return None

    with ThreadPoolExecutor(max_workers=min(sessions, 8)) as pool:
        clients = list(pool.map(connect, range(sessions)))
    started = time.monotonic()
    deadline = started + duration
    threads = [
        threading.Thread(target=run_session, args=(c, i, deadline, timeout, results), daemon=True)
        for i, c in enumerate(clients) if c is not None
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()) + timeout + 30)
    elapsed = time.monotonic() - started
    for c in clients:
        if c is not None:
            c.close()
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        results.error(f"{stuck} session(s) did not stop in time")
    lat = results.latencies
    return {
        "url": url,
        "sessions": sessions,
        "duration_s": round(elapsed, 1),
        "requests": len(lat) + len(results.errors),
        "errors": len(results.errors),
        "requests_per_s": round(len(lat) / elapsed, 2) if elapsed else 0.0,
        "latency_p50_s": round(percentile(lat, 0.50), 3) if lat else None,
        "latency_p95_s": round(percentile(lat, 0.95), 3) if lat else None,
        "latency_max_s": round(max(lat), 3) if lat else None,
        "error_samples": sorted(set(results.errors))[:10],
    }


# -- --start-server ---------------------------------------------------------------------------
def start_server(data_dir: Path, log, poll_s: float = 0.5) -> tuple[subprocess.Popen, str]:
    """`beacon serve` on a free loopback port over `data_dir`, once it answers HTTP (polled
    every `poll_s` seconds)."""
    beacon = str(Path(sys.executable).parent / "beacon")
    env = {**os.environ, "BEACON_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if not data_dir.exists() or not any(data_dir.iterdir()):
        print(f"Ingesting knowledge/ into {data_dir} …", file=sys.stderr)
        subprocess.run([beacon, "ingest", str(ROOT / "knowledge")], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, check=True, timeout=900)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([beacon, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    limit = time.monotonic() + 180
    while time.monotonic() < limit and server.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(poll_s)
    stop_server(server)
    raise RuntimeError(f"beacon serve did not answer on {url} (exit code {server.returncode}); see {log.name}")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)


# -- output -----------------------------------------------------------------------------------
def print_table(r: dict, console: Console) -> None:
    table = Table(title=f"Beacon load test: {r['url']}", caption="latency in seconds, from submit to final answer")
    for name in ("sessions", "duration s", "requests", "errors", "req/s", "p50", "p95", "max"):
        table.add_column(name, justify="right")
    cells = [r["sessions"], r["duration_s"], r["requests"], r["errors"], r["requests_per_s"], r["latency_p50_s"], r["latency_p95_s"], r["latency_max_s"]]
    table.add_row(*("n/a" if v is None else str(v) for v in cells), style="red" if r["errors"] else None)
    console.print(table)
    for message in r["error_samples"]:
        console.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    if "server_log" in r:
        console.print(f"Server log: {r['server_log']}")


def positive(limit: float):
    def check(text: str) -> float:
        value = float(text)
        if not 0 < value <= limit:
            raise argparse.ArgumentTypeError(f"must be in (0, {limit:g}]")
        return value
    return check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860", help="Beacon web UI to load (ignored with --start-server).")
    parser.add_argument("--sessions", type=lambda s: int(positive(500)(s)), default=20, help="Concurrent chat sessions (default 20).")
    parser.add_argument("--duration", type=positive(MAX_DURATION), default=60, help=f"Seconds to keep asking (default 60, at most {MAX_DURATION}).")
    parser.add_argument("--timeout", type=positive(300), default=60, help="Time limit of one request in seconds (default 60).")
    parser.add_argument("--start-server", action="store_true", help="Start `beacon serve` on a free 127.0.0.1 port and stop it at the end.")
    parser.add_argument("--data-dir", type=Path, help="Data folder of the started server (ingests knowledge/ when empty).")
    parser.add_argument("--json", action="store_true", help="Also print the results as JSON.")
    args = parser.parse_args(argv)
    if args.start_server and args.data_dir is None:
        parser.error("--start-server needs --data-dir")

    if not args.start_server:
        results = load_test(args.url, args.sessions, args.duration, args.timeout)
    else:
        with tempfile.NamedTemporaryFile("w", prefix="beacon-serve-", suffix=".log", delete=False) as log:
            server, url = start_server(args.data_dir.resolve(), log)
            try:
                results = load_test(url, args.sessions, args.duration, args.timeout)
            finally:
                stop_server(server)
        if results["errors"]:
            results["server_log"] = log.name  # kept for the post-mortem
        else:
            os.unlink(log.name)
    print_table(results, Console())
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if results["errors"] or not results["requests"] else 0


if __name__ == "__main__":
    sys.exit(main())
