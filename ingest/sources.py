"""Where documents come from: files, folders (recursive) and http(s) URLs.

Reading is bounded (size and time) and URL fetching refuses local and private addresses
unless explicitly allowed, so a trainer's paste cannot make the server read its own network.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from assistant.errors import FetchError, IngestError
from ingest.loaders import CONTENT_TYPES, EXTENSIONS, format_for


@dataclass(frozen=True)
class SourceRef:
    """One document to ingest, named as the user gave it."""

    source: str
    path: Path | None = None
    url: str | None = None

    @property
    def is_url(self) -> bool:
        return self.url is not None

    @property
    def doc_id(self) -> str:
        """Stable id: a readable slug of the name plus a hash of the canonical location."""
        canonical = normalize_url(self.url) if self.url else str(self.path.resolve())
        name = Path(urlsplit(self.url).path).stem if self.url else self.path.stem
        slug = re.sub(r"[^a-z0-9]+", "-", (name or urlsplit(self.url).hostname or "doc").lower()).strip("-")[:48]
        return f"{slug or 'doc'}-{hashlib.sha1(canonical.encode()).hexdigest()[:10]}"


def normalize_url(url: str) -> str:
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


def is_url(text: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text))


def expand_sources(inputs: list[str]) -> tuple[list[SourceRef], list[tuple[str, str]]]:
    """Files and URLs to ingest, plus (input, error) for inputs that cannot be used at all."""
    refs: list[SourceRef] = []
    problems: list[tuple[str, str]] = []
    for item in inputs:
        if is_url(item):
            refs.append(SourceRef(source=item, url=item))
            continue
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in EXTENSIONS and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                problems.append((item, f"No supported files ({', '.join(sorted(EXTENSIONS))}) in this folder."))
            refs.extend(SourceRef(source=str(p), path=p) for p in found)
        elif path.is_file():
            refs.append(SourceRef(source=item, path=path))
        else:
            problems.append((item, "No such file or folder; check the path."))
    return refs, problems


def read_file(ref: SourceRef, max_bytes: int) -> tuple[bytes, str]:
    fmt = format_for(ref.path.name)
    size = ref.path.stat().st_size
    if size > max_bytes:
        raise IngestError(
            f"The file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit; split it or raise BEACON_MAX_FILE_MB."
        )
    return ref.path.read_bytes(), fmt


def check_url_allowed(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"Only http(s) URLs can be ingested, not {parts.scheme}://; download the file and ingest its path.")
    if not parts.hostname:
        raise FetchError(f"The URL {url!r} has no host name.")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror as exc:
        raise FetchError(f"Cannot resolve {parts.hostname!r} ({exc}); check the URL and the network.") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved or address.is_unspecified:
            raise FetchError(
                f"{parts.hostname} resolves to the local or private address {address}; such URLs are refused "
                "unless BEACON_ALLOW_PRIVATE_URLS=1."
            )


def fetch_url(url: str, max_bytes: int, timeout_s: float, allow_private: bool) -> tuple[bytes, str]:
    """Body and format of a URL, within the size and time limits."""
    import httpx

    check_url_allowed(url, allow_private)
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=False, headers={"User-Agent": "Beacon/0.1 (document ingestion)"}) as client:
            current = url
            for _ in range(5):  # follow redirects by hand so every hop is checked
                with client.stream("GET", current) as response:
                    if response.is_redirect:
                        current = str(response.url.join(response.headers.get("location", "")))
                        check_url_allowed(current, allow_private)
                        continue
                    if response.status_code >= 400:
                        raise FetchError(f"The server answered HTTP {response.status_code} for {current}.")
                    body = bytearray()
                    for block in response.iter_bytes():
                        body.extend(block)
                        if len(body) > max_bytes:
                            raise FetchError(f"The download is over the {max_bytes / 1e6:.0f} MB limit; raise BEACON_MAX_FILE_MB to allow it.")
                    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                    return bytes(body), _format_of_response(current, content_type)
            raise FetchError(f"Too many redirects fetching {url}.")
    except httpx.TimeoutException as exc:
        raise FetchError(f"Fetching {url} timed out after {timeout_s:g} s; try again later or raise BEACON_FETCH_TIMEOUT_S.") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"Fetching {url} failed: {exc}.") from exc


def _format_of_response(url: str, content_type: str) -> str:
    if content_type in CONTENT_TYPES:
        return CONTENT_TYPES[content_type]
    suffix = Path(urlsplit(url).path).suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    raise FetchError(f"The URL returned {content_type or 'no content type'}, which Beacon cannot read.")
