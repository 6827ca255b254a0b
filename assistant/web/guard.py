"""What the web server refuses before any handler runs: serving beyond this machine without
accounts, Gradio's upload endpoint for roles without an upload box, and (with the throttle)
repeated failed sign-ins."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path

from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse

from assistant.domain.errors import ConfigError
from assistant.records.users import LoginThrottle, UserStore, can
from assistant.web.access import Access, required_roles

CLIENT_ADDRESS: ContextVar[str] = ContextVar("beacon_client_address", default="")
UPLOAD_PATH = "/gradio_api/upload"


class RequestGuard:
    """ASGI middleware between Gradio's server and its routes.

    Gradio's own upload endpoint takes files from any signed-in user and serves them back, so a
    trainee could store arbitrary files: it is refused to roles without an upload box. The
    caller's address (after uvicorn's trusted-proxy handling) is noted for the login throttle.
    """

    def __init__(self, app, access: Access):
        self.app = app
        self.access = access

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        noted = CLIENT_ADDRESS.set((scope.get("client") or ("",))[0])
        try:
            if scope["method"] == "POST" and scope["path"].rstrip("/").endswith(UPLOAD_PATH) and not self._may_upload(scope):
                message = f"Not allowed: uploading files needs the role {required_roles('upload')}."
                return await PlainTextResponse(message, status_code=403)(scope, receive, send)
            return await self.app(scope, receive, send)
        finally:
            CLIENT_ADDRESS.reset(noted)

    def _may_upload(self, scope) -> bool:
        if self.access.users is None:
            return True
        gradio_app, cookies = scope["app"], HTTPConnection(scope).cookies
        token = cookies.get(f"access-token-{gradio_app.cookie_id}") or cookies.get(f"access-token-unsecure-{gradio_app.cookie_id}")
        name = gradio_app.tokens.get(token) if token else None
        return can(self.access.users.role_of(name), "upload")


def authenticator(users: UserStore, throttle: LoginThrottle | None = None) -> Callable[[str, str], bool]:
    """Gradio's sign-in check: the password, throttled per account and per calling address."""
    throttle = throttle or LoginThrottle()

    def authenticate(username: str, password: str) -> bool:
        return throttle.sign_in(users, username, password, CLIENT_ADDRESS.get()) is not None

    return authenticate


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind_address(host: str, users: UserStore | None = None, users_path: Path | None = None) -> None:
    """Without accounts the UI is a single local admin, so it serves only this machine."""
    if users is None and not is_loopback(host):
        where = f" (stored in {users_path})" if users_path else ""
        raise ConfigError(
            f"Refusing to serve on {host} without user accounts: anyone who can reach it would manage the library. "
            f"Create accounts first with `beacon users add NAME --role admin`{where}, or bind to 127.0.0.1."
        )
