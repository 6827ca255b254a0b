"""What every `beacon` command shares: the consoles, the settings and assistant of this run,
and how a BeaconError becomes a message and an exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from rich.console import Console

from assistant.domain.errors import BeaconError, ConfigError, InvalidInput, NotFound, StoreError

console = Console()
err_console = Console(stderr=True)
EXIT_CODES = {ConfigError: 2, InvalidInput: 2, StoreError: 3, NotFound: 4}


class State:
    data_dir: Optional[Path] = None
    assistant = None


def get_settings():
    """Settings from the environment plus the global options; no model is loaded."""
    from assistant import Settings

    overrides = {"data_dir": State.data_dir} if State.data_dir else {}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"BEACON_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"Invalid settings: {problems}. Fix the environment variable(s) and try again.") from exc


def get_assistant():
    """Build the assistant once per command, from env settings plus the global options."""
    if State.assistant is None:
        from assistant import build_assistant

        State.assistant = build_assistant(get_settings())
    return State.assistant


def fail(exc: BeaconError) -> None:
    code = next((c for t, c in EXIT_CODES.items() if isinstance(exc, t)), 1)
    err_console.print(f"[bold red]Error:[/] {exc}", highlight=False)
    raise typer.Exit(code)


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


