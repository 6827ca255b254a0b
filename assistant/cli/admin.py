"""`beacon users` (accounts of the web UI) and `beacon feedback` (answer ratings for QA).

Both work on files under the data dir (`users.toml`, `feedback.jsonl`) and never build the
assistant, so they are fast and need no model. Imports stay inside the commands: this module
is imported by `assistant.cli.main` at start-up.
"""

from __future__ import annotations

from pathlib import Path

import typer

users_app = typer.Typer(help="Manage the web UI's accounts (roles: trainee, trainer, qa, admin).", no_args_is_help=True)
feedback_app = typer.Typer(help="Export the answers users rated, for QA.", no_args_is_help=True)


def _settings():
    """Settings only (the users and feedback files live in the data dir); no model is loaded."""
    from assistant.cli.common import get_settings

    return get_settings()


def _user_store():
    from assistant.app import build_users

    return build_users(_settings())


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="Login name (letters, digits, . _ @ -)."),
    role: str = typer.Option("trainee", "--role", help="trainee (chat), trainer (+ library), qa (+ evals) or admin (everything)."),
    password: str = typer.Option(
        ..., "--password", envvar="BEACON_USER_PASSWORD", prompt=True, hide_input=True, confirmation_prompt=True,
        help="Password (at least 8 characters); prompted for when not given. Env: BEACON_USER_PASSWORD.",
    ),
    replace: bool = typer.Option(False, "--replace", help="Change the role and password of an existing user."),
) -> None:
    """Create a user (or with --replace, reset one). Only a salted scrypt hash is stored."""
    from assistant.cli.common import console, fail
    from assistant.domain.errors import BeaconError

    try:
        store = _user_store()
        user = store.add(name, password, role.strip().lower(), replace=replace)
    except BeaconError as exc:
        fail(exc)
    console.print(f"{'Updated' if replace else 'Added'} {user.name} ({user.role}) in {store.path}.", highlight=False, soft_wrap=True)


@users_app.command("list")
def users_list(as_json: bool = typer.Option(False, "--json", help="Print the list as JSON.")) -> None:
    """Show the users and their roles (never their password hashes)."""
    from rich.table import Table

    from assistant.cli.common import console, fail, print_json
    from assistant.domain.errors import BeaconError

    try:
        store = _user_store()
        users = store.list()
    except BeaconError as exc:
        fail(exc)
    if as_json:
        print_json({"users_file": str(store.path), "users": [{"name": u.name, "role": u.role} for u in users]})
        return
    if not users:
        console.print(f"No users in {store.path}: `beacon serve` runs as a single local admin on 127.0.0.1 only.", highlight=False, soft_wrap=True)
        return
    table = Table("name", "role")
    for u in users:
        table.add_row(u.name, u.role)
    console.print(table)
    console.print(f"{len(users)} users in {store.path}", highlight=False, soft_wrap=True)


@users_app.command("remove")
def users_remove(name: str = typer.Argument(..., help="The user to delete.")) -> None:
    """Delete a user; their open sessions lose access at their next action."""
    from assistant.cli.common import console, fail
    from assistant.domain.errors import BeaconError

    try:
        store = _user_store()
        store.remove(name)
    except BeaconError as exc:
        fail(exc)
    console.print(f"Removed {name} from {store.path}.", highlight=False, soft_wrap=True)


@feedback_app.command("export")
def feedback_export(
    out: Path = typer.Option(Path("feedback-cases.jsonl"), "--out", help="Where to write the eval cases (JSONL)."),
) -> None:
    """Write the thumbs-down answers as eval cases (expectations left empty for QA to fill in).

    The file is owner-only (it names users and their questions) and holds only entries within
    BEACON_FEEDBACK_RETENTION_DAYS."""
    from assistant.app import build_feedback
    from assistant.cli.common import console, fail
    from assistant.domain.errors import BeaconError

    try:
        store = build_feedback(_settings())
        entries = store.entries()
        count = store.export_eval_cases(out)
    except BeaconError as exc:
        fail(exc)
    except OSError as exc:
        from assistant.domain.errors import InvalidInput

        fail(InvalidInput(f"Cannot write {out}: {exc}; choose another --out file."))
    down = sum(e.rating == "down" for e in entries)
    console.print(
        f"Wrote {count} eval cases ({down} thumbs-down of {len(entries)} ratings) to {out}. "
        "Fill in expected_sources / expected_answer_contains (or set answerable to false), then run `beacon eval FILE`.",
        highlight=False, soft_wrap=True,
    )
