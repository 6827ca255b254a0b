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
INTERNAL_PARTS = re.compile(r"(?<!library)\.(store|lexical|embedder)\b(?!\s*=)")  # not the module `assistant.library.store`
PARTS = {"store", "lexical", "embedder"}
# Parts whose own parts are the core's business: `beacon.retriever.crosslingual`, `x.answerer.model`.
REACHED_THROUGH = {"retriever", "answerer", "ingestor", "rewriter"}
# A private hook named in a string for importlib or monkeypatching: "assistant.x.y:Class._hook".
PRIVATE_IN_TEXT = re.compile(r"\b(?:%s)(?:\.\w+)*[:.](?:\w+\.)*_[a-z]\w*" % "|".join(OWN))


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
    """Everything that uses the core from outside: the UI, the evals, the benchmarks and the
    tests (but this file, which holds the forbidden patterns as data)."""
    tests = [path for path in sorted((ROOT / "tests").glob("*.py")) if path.name != Path(__file__).name]
    return [ROOT / "ui.py", *sorted((ROOT / "evals").glob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py")), *tests]


def reach_ins(source: str) -> list[tuple[int, str]]:
    """(line, what) for each place `source` reaches past the public API: a part of an Assistant
    (`x.store`, `x.lexical`, `x.embedder`; `settings.paths.lexical(...)` is a path, not the
    part), a part of its parts (`x.retriever.crosslingual`), a private name of another module
    (`from m import _name`, `obj._name` other than on `self`/`cls`), or a private hook named
    in a string (`"assistant.library.store:ChunkStore._hook"`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in OWN:
            found += [(node.lineno, f"imports private {a.name} from {node.module}") for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Attribute):
            name, owner = node.attr, node.value
            if isinstance(node.ctx, ast.Store) and isinstance(owner, ast.Name) and owner.id == "self":
                continue  # a class of the test's own sets up its attributes
            if name in PARTS and not (name == "lexical" and isinstance(owner, ast.Attribute) and owner.attr == "paths"):
                found.append((node.lineno, f".{name}"))
            elif isinstance(owner, ast.Attribute) and owner.attr in REACHED_THROUGH:
                found.append((node.lineno, f".{owner.attr}.{name}"))
            elif name.startswith("_") and not name.startswith("__") and not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append((node.lineno, f"private .{name}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and PRIVATE_IN_TEXT.search(node.value):
            found.append((node.lineno, f"names the private hook {PRIVATE_IN_TEXT.search(node.value).group()}"))
    return found


def test_consumers_use_the_public_api_only():
    """The UI, the evals, the benchmarks and the tests go through the Assistant's public
    methods, or build and inject the part they need: no `.store`/`.lexical`/`.embedder`, no
    reaching through its parts, no private name of another module."""
    problems = []
    for path in consumer_files():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        problems += [f"{path.relative_to(ROOT)}:{n}: {what}: {lines[n - 1].strip()}" for n, what in reach_ins(text)]
        for n, line in enumerate(lines, 1):
            code = line.split("#")[0]
            if INTERNAL_PARTS.search(code) and not code.lstrip().startswith(("from ", "import ")) and "paths.lexical" not in code:
                problems.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")  # also in code run from a string (a child process)
    assert not problems, "\n".join(sorted(set(problems)))


def test_the_checks_above_can_fail(tmp_path):
    assert INTERNAL_PARTS.search("beacon.store.count()") and INTERNAL_PARTS.search("x = beacon.lexical")
    assert not INTERNAL_PARTS.search("self.store = store") and not INTERNAL_PARTS.search("beacon.reader()")
    assert not INTERNAL_PARTS.search('"assistant.library.store:ChunkStore.write_document"')
    caught = [what for _line, what in reach_ins(
        "from assistant.service import _at_low_priority\n"
        "beacon.store.scan()\n"
        "beacon.lexical.size\n"
        "n = beacon.embedder\n"
        "beacon.retriever.crosslingual.ready()\n"
        "x.answerer.model\n"
        "embedder._lock\n"
        "store_module._bump_revision()\n"
        'kill = ["assistant.library.store:ChunkStore._bump_revision", "before", 1]\n'
    )]
    assert len(caught) == 9, caught
    assert not reach_ins(
        "from assistant.library.store import ChunkStore\n"
        "import assistant.library.embedder\n"
        "self.store = store\n"
        "self._calls = []\n"
        "store.scan()\n"
        "settings.paths.lexical(key, name)\n"
        "answer.answerer == 'llamacpp'\n"
        "beacon.reader().bm25_size()\n"
        "type(x).__name__\n"
        'raised_inside("openai._base_client", error)\n'
    )
