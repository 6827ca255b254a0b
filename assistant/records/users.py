"""Who may use the web UI, and as what: a TOML file of users with salted scrypt hashes.

    [users."alice"]
    role = "trainer"
    password = "scrypt$16384$8$1$<salt, base64>$<hash, base64>"

Roles grant capabilities (`can(role, "library")`): every role may chat and leave feedback,
trainers manage the library, QA runs evaluations, admins do everything; only the roles with an
upload box (library, evals) may upload files at all. Repeated failed sign-ins slow down
guessing: `LoginThrottle` refuses an account, or an address, for a while after too many. The file is written
atomically with mode 0600 and re-read when it changes, so `beacon users add` takes effect in a
running server at the next login. Passwords are never stored: only a per-user random salt
and the scrypt hash, compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
import tomllib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from assistant.domain.errors import ConfigError, InvalidInput, NotFound
from assistant.domain.files import atomic_write

ROLES = ("trainee", "trainer", "qa", "admin")
CAPABILITIES = {
    "chat": frozenset(ROLES),
    "feedback": frozenset(ROLES),
    "library": frozenset({"trainer", "admin"}),
    "evals": frozenset({"qa", "admin"}),
    "upload": frozenset({"trainer", "qa", "admin"}),  # the roles with an upload box: library or evals
}
MIN_PASSWORD_CHARS = 8
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
# scrypt cost: 16 MiB and ~50 ms per check; stored with each hash so it can be raised later.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_TRACKED_KEYS = 10_000  # names and addresses with recent failed sign-ins kept in memory


def can(role: str | None, capability: str) -> bool:
    """Whether a role may use a capability (`chat`, `feedback`, `library`, `evals`, `upload`)."""
    return role in CAPABILITIES.get(capability, frozenset())


def users_file(settings) -> Path:
    """The users file for these settings: `BEACON_USERS_FILE` when set, else `<data_dir>/users.toml`."""
    return settings.paths.users


@dataclass(frozen=True)
class User:
    name: str
    role: str


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt)}${b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    """Constant-time comparison of a password with a stored `scrypt$…` hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
            dklen=len(expected), maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


_DUMMY_HASH = None


def _dummy_hash() -> str:
    """A hash to check unknown names against, so a wrong name costs as long as a wrong password."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(8))
    return _DUMMY_HASH


class UserStore:
    """The users file. Reads are cached until the file changes; writes replace it atomically."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._cache: tuple[tuple[int, int], dict[str, dict]] | None = None

    def _load(self) -> dict[str, dict]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        key = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._cache and self._cache[0] == key:
                return self._cache[1]
            try:
                data = tomllib.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"Cannot read the users file {self.path}: {exc}. Fix or delete it, then `beacon users add NAME`.") from exc
            users = data.get("users", {})
            if not isinstance(users, dict) or not all(
                isinstance(u, dict) and u.get("role") in ROLES and isinstance(u.get("password"), str) for u in users.values()
            ):
                raise ConfigError(
                    f"The users file {self.path} is malformed: each [users.NAME] needs a role ({', '.join(ROLES)}) "
                    "and a password hash. Recreate entries with `beacon users add NAME --role ROLE`."
                )
            self._cache = (key, users)
            return users

    def _save(self, users: dict[str, dict]) -> None:
        header = "# Beacon users: managed by `beacon users add/remove`; passwords are salted scrypt hashes.\n\n"
        table = {name: {"role": users[name]["role"], "password": users[name]["password"]} for name in sorted(users)}
        atomic_write(self.path, header + tomli_w.dumps({"users": table}))

    def has_users(self) -> bool:
        return bool(self._load())

    def list(self) -> list[User]:
        return [User(name, entry["role"]) for name, entry in sorted(self._load().items())]

    def get(self, name: str) -> User | None:
        entry = self._load().get(name or "")
        return User(name, entry["role"]) if entry else None

    def role_of(self, name: str | None) -> str | None:
        user = self.get(name or "")
        return user.role if user else None

    def add(self, name: str, password: str, role: str, replace: bool = False) -> User:
        """Create a user (or, with `replace`, change an existing user's role and password)."""
        if not NAME_PATTERN.match(name or ""):
            raise InvalidInput(f"Invalid user name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit.")
        if role not in ROLES:
            raise InvalidInput(f"Unknown role {role!r}; choose one of: {', '.join(ROLES)}.")
        if len(password or "") < MIN_PASSWORD_CHARS:
            raise InvalidInput(f"The password must have at least {MIN_PASSWORD_CHARS} characters.")
        users = dict(self._load())
        if name in users and not replace:
            raise InvalidInput(f"User {name!r} already exists; use `beacon users add {name} --replace` to change the role or password.")
        users[name] = {"role": role, "password": hash_password(password)}
        self._save(users)
        return User(name, role)

    def remove(self, name: str) -> None:
        users = dict(self._load())
        if name not in users:
            raise NotFound(f"No user {name!r} in {self.path}; `beacon users list` shows them.")
        del users[name]
        self._save(users)

    def verify(self, name: str, password: str) -> User | None:
        """The user when the password is right, else None (unknown names take as long)."""
        entry = self._load().get(name or "")
        ok = check_password(password or "", entry["password"] if entry else _dummy_hash())
        return User(name, entry["role"]) if entry and ok else None


class LoginThrottle:
    """Failed sign-ins per account and per address. After `account_limit` failures for one name
    (or `address_limit` from one address) within `window_s`, that name (or address) is refused
    without checking the password until `lockout_s` after its last failure; each further
    failure doubles the wait, up to `window_s`. A success clears the account's failures.

    Kept in memory: a restart forgets it, and each replica behind a load balancer counts alone.
    """

    def __init__(self, account_limit: int = 5, address_limit: int = 20, lockout_s: float = 30, window_s: float = 900, clock=time.monotonic):
        self.limits = {"account": account_limit, "address": address_limit}
        self.lockout_s, self.window_s, self.clock = lockout_s, window_s, clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, name: str, address: str) -> list[tuple[str, str]]:
        return [("account", (name or "").strip().lower()), ("address", address or "")]

    def retry_after(self, name: str, address: str) -> float:
        """Seconds before this name from this address may try again (0: now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in self._keys(name, address):
                times = self._recent(key, now)
                extra = len(times) - self.limits[key[0]]
                if extra >= 0:
                    wait = max(wait, times[-1] + min(self.lockout_s * 2**extra, self.window_s) - now)
        return max(wait, 0.0)

    def record(self, name: str, address: str, ok: bool) -> None:
        now = self.clock()
        account, by_address = self._keys(name, address)
        with self._lock:
            if ok:
                self._failures.pop(account, None)
                return
            for key in (account, by_address):
                self._failures[key] = self._recent(key, now)
                self._failures[key].append(now)
            if len(self._failures) > MAX_TRACKED_KEYS:  # many names tried: forget the expired ones
                for key in [k for k, times in self._failures.items() if times[-1] < now - self.window_s]:
                    del self._failures[key]

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        """The failures of a key within the window (a new, untracked deque for a key with none)."""
        times = self._failures.get(key, deque())
        while times and times[0] < now - self.window_s:
            times.popleft()
        return times

    def sign_in(self, users: "UserStore", name: str, password: str, address: str) -> User | None:
        """The user, when not throttled and the password is right; failures are counted."""
        if self.retry_after(name, address) > 0:
            return None
        user = users.verify(name, password)
        self.record(name, address, user is not None)
        return user
