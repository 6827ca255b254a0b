"""What the benchmark scripts share: the question mix, peak memory and free ports."""

from __future__ import annotations

import socket
from pathlib import Path

QUESTIONS = [
    "What did the 24th Alliance conference focus on?",
    "What are the 3 Ps of the OSCE Action Plan?",
    "How does the Palermo Protocol define trafficking in persons?",
    "What must States do to discourage demand?",
    "How do I bake bread?",
    "What is the national hotline number in Moldova?",
    "Who is the OSCE Special Representative?",
    "What does Article 6 of the Palermo Protocol say about victims?",
    "Which measures address supply chains and public procurement?",
    "How are children protected under the Worst Forms of Child Labour Convention?",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """VmHWM (peak resident set of the process's current program) in MB; None where /proc
    cannot tell. Unlike `getrusage(...).ru_maxrss`, it does not carry over the peak of the
    parent a subprocess was forked from."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None
