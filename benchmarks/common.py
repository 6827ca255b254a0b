"""What the benchmark scripts share: the question mix and percentiles."""

from __future__ import annotations

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


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); NaN for an empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")
