"""`beacon models`: register the local GGUF model `BEACON_ANSWERER=llamacpp` generates with
(the catalogue and the registry are `assistant.llm.catalog`)."""

from __future__ import annotations

from pathlib import Path

import typer

from assistant.llm.catalog import CATALOG, packaged_gguf, registered_models, write_registry

models_app = typer.Typer(help="Install and list local LLMs for BEACON_ANSWERER=llamacpp.", no_args_is_help=True)


def _settings():
    """Settings only: building the assistant would need the model this command registers."""
    from assistant.cli.common import get_settings

    return get_settings()


@models_app.command("install")
def install(name: str = typer.Argument(..., help=f"Model to register: {', '.join(CATALOG)}.")) -> None:
    """Register a model shipped by an installed package as the default local model."""
    from assistant.cli.common import console, fail
    from assistant.domain.errors import BeaconError, InvalidInput

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

    from assistant.cli.common import console, fail, print_json
    from assistant.domain.errors import BeaconError

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
        table.add_row(r["name"], r["package"], "yes" if r["installed"] else "no: pip install 'beacon-thb[local-llm]'",
                      "*" if r["default"] else "", r["registered"] or "not registered", r["about"])
    console.print(table)
    if override:
        console.print(f"BEACON_LLM_MODEL_PATH={override} overrides the registered default.", highlight=False)
