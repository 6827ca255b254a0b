"""The web UI's parts, on top of the core (nothing in the core imports them):

- `presenters`: the core's answers, documents and reports as HTML and table rows;
- `access`: who may call what (`@requires`), over `assistant.records.users.CAPABILITIES`;
- `handlers`: `BeaconUI`, the Gradio event handlers (check role → call the core → present);
- `guard`: what the server refuses before a handler runs (bind address, uploads, sign-ins);
- `static/`: the page's CSS and JavaScript, read when the app is built (`asset`).

`ui.py` lays the page out and wires these together.
"""

from importlib import resources


def asset(name: str) -> str:
    """The text of a file in `assistant/web/static/` (package data, so an installed wheel has it)."""
    return resources.files(__name__).joinpath("static", name).read_text(encoding="utf-8")
