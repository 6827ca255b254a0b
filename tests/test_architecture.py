"""The layers stay what README "Architecture" says: no cycles, nothing outside the core
reaching into its parts. (`make lint` runs the layer contract in `.importlinter`.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
OWN = ("assistant", "ingest", "evals")
# Parts of the Assistant that only the core itself may touch; consumers use its public methods.
INTERNAL_PARTS = re.compile(r"\.(store|lexical|embedder)\b(?!\s*=)")


def test_no_module_imports_itself_back():
    graph = grimp.build_graph(*OWN)
    own = [m for m in graph.modules if m.split(".")[0] in OWN]
    cycles = sorted({
        tuple(sorted((module, imported)))
        for module in own
        for imported in graph.find_modules_directly_imported_by(module)
        if imported in own and imported != module and graph.chain_exists(importer=imported, imported=module)
    })
    assert not cycles, f"import cycles: {cycles}"


def consumer_files() -> list[Path]:
    return [ROOT / "ui.py", *sorted((ROOT / "evals").glob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py"))]


def test_consumers_use_the_public_api_only():
    """The UI, the evals and the benchmarks go through the Assistant's public methods: no
    `.store`/`.lexical`/`.embedder`, no private name imported from another module."""
    problems = []
    for path in consumer_files():
        text = path.read_text(encoding="utf-8")
        for n, line in enumerate(text.splitlines(), 1):
            if INTERNAL_PARTS.search(line.split("#")[0]):
                problems.append(f"{path.name}:{n}: {line.strip()}")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in OWN:
                problems += [f"{path.name}:{node.lineno}: imports private {a.name} from {node.module}" for a in node.names if a.name.startswith("_")]
    assert not problems, "\n".join(problems)


def test_the_checks_above_can_fail(tmp_path):
    assert INTERNAL_PARTS.search("beacon.store.count()") and INTERNAL_PARTS.search("x = beacon.lexical")
    assert not INTERNAL_PARTS.search("self.store = store") and not INTERNAL_PARTS.search("beacon.reader()")
