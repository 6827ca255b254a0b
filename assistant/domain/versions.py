"""How documents relate in time: a document's status, what it supersedes or amends, when it
took effect, and the collections trainers put it in.

The values come from Markdown front matter, the sources manifest, or `beacon docs set`; they
are validated here in one place (a bad value is an InvalidInput that names the fix, and
nothing is stored). Chroma metadata holds scalars only, so lists are stored comma-joined.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.domain.errors import InvalidInput

STATUSES = ("in_force", "superseded", "historical")
LIST_FIELDS = ("supersedes", "amends", "collections")
FIELDS = ("status", "valid_from", *LIST_FIELDS)
DATE_RE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
NAME_RE = re.compile(r"^[\w./() -]{1,80}$")  # a doc id, an official symbol or a collection name


def checked(values: dict[str, Any], where: str = "") -> dict[str, Any]:
    """The given relation fields, validated and normalised (lists as lists of names); fields
    not given are left out. `where` names the origin in error messages."""
    origin = f" in {where}" if where else ""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown document field(s){origin}: {', '.join(sorted(unknown))}; Beacon knows {', '.join(FIELDS)}.")
    out: dict[str, Any] = {}
    if values.get("status") is not None:
        status = str(values["status"]).strip().lower().replace("-", "_").replace(" ", "_")
        if status not in STATUSES:
            raise InvalidInput(f"status{origin} must be one of {', '.join(STATUSES)}, not {values['status']!r}.")
        out["status"] = status
    if values.get("valid_from") is not None:
        date = str(values["valid_from"]).strip()
        if date and not DATE_RE.match(date):
            raise InvalidInput(f"valid_from{origin} must be a date as YYYY, YYYY-MM or YYYY-MM-DD, not {values['valid_from']!r}.")
        out["valid_from"] = date
    for field in LIST_FIELDS:
        if values.get(field) is None:
            continue
        names = as_list(values[field])
        bad = [n for n in names if not NAME_RE.match(n)]
        if bad:
            raise InvalidInput(f"{field}{origin}: {bad[0]!r} is not a document id, symbol or name (letters, digits, . / ( ) - _ and spaces, up to 80).")
        out[field] = names
    return out


def as_list(value: Any) -> list[str]:
    """A list of names from a list or a comma-separated string, in order, without repeats."""
    items = value if isinstance(value, (list, tuple, set)) else str(value).split(",")
    return list(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))


def to_metadata(fields: dict[str, Any]) -> dict[str, str]:
    """Chunk metadata for relation fields (lists comma-joined)."""
    return {k: ",".join(v) if isinstance(v, list) else v for k, v in fields.items()}


def from_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """Relation fields of a stored chunk, with defaults for documents that state none."""
    fields: dict[str, Any] = {"status": meta.get("status") or "in_force", "valid_from": meta.get("valid_from") or ""}
    fields.update({f: as_list(meta.get(f) or "") for f in LIST_FIELDS})
    return fields
