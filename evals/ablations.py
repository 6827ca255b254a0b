"""What each grounding rule buys, measured on a dataset: Beacon as shipped vs Beacon with one
rule switched off.

    .venv/bin/python -m evals.ablations [DATASET.jsonl] [--out DIR]

Uses the current library (`BEACON_DATA_DIR`), like `beacon eval`. Variants:
- `beacon`: as shipped;
- `no-specifics-check`: refusal ignores whether the question's names, places, years, numbers
  and symbols occur in the retrieved passages;
- `no-key-term-check`: refusal ignores key-term coverage (similarity threshold + specifics only);
- `similarity-only-refusal`: both checks off: refuse only when the best chunk is not similar enough;
- `similarity-only-sentences`: sentences picked by embedding similarity alone (no key-term weight).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from assistant import Settings, build_assistant
from evals.runner import default_dataset, run_eval

VARIANTS = {
    "beacon": {},
    "no-specifics-check": {"check_specifics": False},
    "no-key-term-check": {"check_key_terms": False},
    "similarity-only-refusal": {"check_specifics": False, "check_key_terms": False},
    "similarity-only-sentences": {"key_term_weight": 0.0},
}
SHOWN = ["recall@k", "answer_containment", "refusal_accuracy", "false_refusal_rate", "faithfulness", "latency_p50_ms"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", nargs="?", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("evals/out/ablations"))
    args = parser.parse_args(argv)
    beacon = build_assistant(Settings())
    shipped = {name: getattr(beacon.answerer, name) for name in ("check_specifics", "check_key_terms", "key_term_weight")}
    metrics = {}
    for variant, changes in VARIANTS.items():
        for name, value in {**shipped, **changes}.items():
            setattr(beacon.answerer, name, value)
        report = run_eval(beacon, args.dataset or default_dataset(), args.out / variant)
        metrics[variant] = report["systems"]["beacon"]
    table = Table(title=f"Ablations on {(args.dataset or default_dataset()).name}")
    table.add_column("variant")
    for m in SHOWN:
        table.add_column(m, justify="right")
    for variant, values in metrics.items():
        table.add_row(variant, *(f"{values.get(m, float('nan')):.3f}" if m != "latency_p50_ms" else f"{values.get(m, 0):.0f}" for m in SHOWN))
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
