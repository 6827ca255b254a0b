"""What the grounding decision buys, measured on a dataset: Beacon as shipped vs Beacon with
the decision moved along its confidence, or off.

    .venv/bin/python -m evals.ablations [DATASET.jsonl] [--out DIR]

Uses the current library (`BEACON_DATA_DIR`), like `beacon eval`. Each variant is Beacon built
from its own settings (nothing is switched on a running assistant):
- `beacon`: as shipped (the threshold fitted with the model);
- `never-refuse`: `BEACON_MIN_CONFIDENCE=0`: the same answers, no refusal for lack of support;
- `cautious`: `BEACON_MIN_CONFIDENCE=0.7`: refuses more;
- `strict`: `BEACON_MIN_CONFIDENCE=0.9`: answers only what it is very sure of.
The risk-coverage curve of `beacon eval` shows every threshold in between.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from assistant import Settings, build_assistant
from evals.runner import default_dataset, run_eval

VARIANTS: dict[str, dict] = {
    "beacon": {},
    "never-refuse": {"min_confidence": 0.0},
    "cautious": {"min_confidence": 0.7},
    "strict": {"min_confidence": 0.9},
}
SHOWN = ["recall@k", "answer_containment", "refusal_accuracy", "false_refusal_rate", "faithfulness", "latency_p50_ms"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", nargs="?", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("evals/out/ablations"))
    args = parser.parse_args(argv)
    dataset = args.dataset or default_dataset()
    metrics = {}
    for variant, changes in VARIANTS.items():
        beacon = build_assistant(Settings(**changes))
        metrics[variant] = run_eval(beacon, dataset, args.out / variant)["systems"]["beacon"]
    table = Table(title=f"Ablations on {dataset.name}")
    table.add_column("variant")
    for m in SHOWN:
        table.add_column(m, justify="right")
    for variant, values in metrics.items():
        table.add_row(variant, *(f"{values.get(m) or 0:.3f}" if m != "latency_p50_ms" else f"{values.get(m) or 0:.0f}" for m in SHOWN))
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
