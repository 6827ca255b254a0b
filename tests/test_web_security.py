"""The web server itself (not just the handlers): Gradio's file upload endpoint is closed to
roles without an upload box, and failed sign-ins are throttled per account and per address.
The real app is served on 127.0.0.1 and called over HTTP; other client addresses are those a
trusted local proxy reports (X-Forwarded-For from loopback, as uvicorn accepts it)."""

from __future__ import annotations

import httpx
import pytest
from conftest import unused_port

import ui
from assistant import Settings, build_assistant
from assistant.records.users import UserStore, users_file

USERS = {"tina": "trainee", "tom": "trainer", "quinn": "qa", "ada": "admin", "tess": "trainee"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    beacon = build_assistant(Settings(data_dir=tmp_path_factory.mktemp("data")))
    users = UserStore(users_file(beacon.settings))
    for name, role in USERS.items():
        users.add(name, f"{name}-password", role)
    port = unused_port()
    app = ui.launch(beacon, "127.0.0.1", port, block=False)
    yield f"http://127.0.0.1:{port}"
    app.close()


def sign_in(url: str, name: str, password: str | None = None, address: str | None = None) -> httpx.Client | None:
    """A client signed in as `name` (None when the sign-in is refused)."""
    client = httpx.Client(base_url=url, timeout=30)
    headers = {"X-Forwarded-For": address} if address else {}
    response = client.post("/login", data={"username": name, "password": password or f"{name}-password"}, headers=headers)
    if response.status_code != 200:
        client.close()
        return None
    return client


def upload_status(client: httpx.Client) -> int:
    files = [("files", ("notes.md", b"# Notes\n\nAnything at all.\n", "text/markdown"))]
    return client.post("/gradio_api/upload", files=files).status_code


def test_trainees_cannot_store_files_through_gradios_upload_endpoint(server):
    trainee = sign_in(server, "tina")
    assert trainee is not None
    assert upload_status(trainee) == 403
    assert httpx.post(f"{server}/gradio_api/upload", files=[("files", ("x.md", b"x"))]).status_code in (401, 403)


@pytest.mark.parametrize("name", ["tom", "quinn", "ada"])
def test_roles_with_an_upload_box_can_upload(server, name):
    client = sign_in(server, name)
    assert client is not None and upload_status(client) == 200


def test_failed_sign_ins_lock_the_account_for_a_while(server):
    for _ in range(5):
        assert sign_in(server, "tess", "wrong-password") is None
    assert sign_in(server, "tess") is None, "the right password is refused while the account is throttled"
    assert sign_in(server, "tina") is not None, "other accounts from the same address still sign in"


def test_failed_sign_ins_from_one_address_lock_that_address(server):
    for i in range(20):
        assert sign_in(server, f"guess{i}", "wrong-password", address="203.0.113.7") is None
    assert sign_in(server, "ada", address="203.0.113.7") is None, "the guessing address is throttled"
    assert sign_in(server, "ada", address="198.51.100.9") is not None


def test_the_throttle_wait_doubles_and_ends():
    from assistant.records.users import LoginThrottle

    now = [1000.0]
    throttle = LoginThrottle(account_limit=3, address_limit=10, lockout_s=30, window_s=900, clock=lambda: now[0])
    for _ in range(3):
        throttle.record("alice", "192.0.2.1", ok=False)
    assert throttle.retry_after("alice", "192.0.2.2") == 30
    throttle.record("alice", "192.0.2.1", ok=False)
    assert throttle.retry_after("Alice", "192.0.2.2") == 60, "each further failure doubles the wait"
    now[0] += 61
    assert throttle.retry_after("alice", "192.0.2.2") == 0
    throttle.record("alice", "192.0.2.1", ok=True)
    assert throttle.retry_after("alice", "192.0.2.2") == 0
