"""Who may call a web handler: one decorator over the one capability table.

The roles that grant a capability live only in `assistant.records.users.CAPABILITIES`; the checks
(`can`) and the "needs the role …" text shown to a refused caller are both read from it, so a
change of policy there changes what is enforced and what is said. Checks run on the server at
every call: hiding a tab is only a convenience.
"""

from __future__ import annotations

import functools
import html
import inspect
from collections.abc import Mapping

import gradio as gr

from assistant.records.users import CAPABILITIES, ROLES, UserStore, can

# What each capability is called in a sentence ("… needs the role …"); not who holds it.
CAPABILITY_LABELS = {"chat": "the chat", "feedback": "feedback", "library": "the library", "evals": "evaluations", "upload": "uploading files"}


def user_error(message: str, title: str = "Beacon") -> gr.Error:
    """A toast for the user; Gradio renders toasts as HTML, so the message is escaped first."""
    return gr.Error(html.escape(message, quote=False), title=title)


def required_roles(capability: str, capabilities: Mapping[str, frozenset[str]] = CAPABILITIES) -> str:
    """Who may use a capability, in words: "any signed-in user", or its roles ("trainer or admin")."""
    granted = capabilities.get(capability, frozenset())
    if set(ROLES) <= granted:
        return "any signed-in user"
    names = [r for r in ROLES if r in granted] + sorted(granted - set(ROLES))
    if not names:
        return "(no role grants it)"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def denial(capability: str, name: str = "", role: str | None = None, capabilities: Mapping[str, frozenset[str]] = CAPABILITIES) -> str:
    """Why a call was refused, and what would allow it."""
    label = CAPABILITY_LABELS.get(capability, capability)
    needed = f"Not allowed: {label} needs the role {required_roles(capability, capabilities)}"
    return needed + (f"; you are signed in as {name} ({role or 'no role'})." if name else "; sign in first.")


class Access:
    """Who is calling: the role of the request's signed-in user, or admin when there are no accounts."""

    def __init__(self, users: UserStore | None):
        self.users = users

    def identify(self, request: gr.Request | None) -> tuple[str, str | None]:
        if self.users is None:
            return "local", "admin"
        name = getattr(request, "username", None) if request is not None else None
        return (name or "", self.users.role_of(name) if name else None)

    def user(self, request: gr.Request | None) -> str:
        """The caller's name ("local" without accounts), as actor of what they change."""
        return self.identify(request)[0]

    def require(self, request: gr.Request | None, capability: str) -> str:
        """The caller's name if their role grants `capability`; otherwise the call is refused."""
        name, role = self.identify(request)
        if not can(role, capability):
            raise user_error(denial(capability, name, role), title="Access denied")
        return name


def requires(capability: str):
    """Decorate a handler method so its caller's role is checked first, against `self.access`.

    The handler keeps its signature (Gradio reads it to pass the `request`), and a generator
    handler stays a generator, checked when it starts, as Gradio runs it.
    """
    if capability not in CAPABILITIES:
        raise ValueError(f"Unknown capability {capability!r}; the capabilities are {', '.join(CAPABILITIES)}.")

    def decorate(handler):
        signature = inspect.signature(handler)
        if "request" not in signature.parameters:
            raise TypeError(f"{handler.__qualname__} needs a `request` parameter to be checked.")

        def check(self, args, kwargs) -> None:
            request = signature.bind_partial(self, *args, **kwargs).arguments.get("request")
            self.access.require(request, capability)

        if inspect.isgeneratorfunction(handler):
            @functools.wraps(handler)
            def checked(self, *args, **kwargs):
                check(self, args, kwargs)
                return (yield from handler(self, *args, **kwargs))
        else:
            @functools.wraps(handler)
            def checked(self, *args, **kwargs):
                check(self, args, kwargs)
                return handler(self, *args, **kwargs)

        checked.capability = capability
        return checked

    return decorate
