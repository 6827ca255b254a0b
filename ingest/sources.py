"""Where documents come from: files, folders (recursive) and http(s) URLs.

Reading is bounded (size, and one deadline for a whole download) and URL fetching refuses
every address that is not public unless explicitly allowed, so a trainer's paste cannot make
the server read its own network. Each host name is resolved once, checked, and the connection
goes to exactly that address (a second lookup could answer differently: DNS rebinding).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from assistant.domain.errors import FetchError, IngestError
from assistant.domain.formats import CONTENT_TYPES, EXTENSIONS, format_for


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


MAX_REDIRECTS = 5
USER_AGENT = "Beacon/0.1 (document ingestion)"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# What makes an address local or special; any of these (or not being global, e.g. the shared
# address space 100.64.0.0/10 of carrier NAT and some cloud metadata services) refuses it.
NON_PUBLIC_PROPERTIES = ("is_private", "is_loopback", "is_link_local", "is_multicast", "is_reserved", "is_unspecified")


def non_public_reason(address: IPAddress) -> str | None:
    """Why an address is not a public one ('loopback', 'shared', ...), or None when it is.

    IPv6 forms that carry an IPv4 address (mapped, 6to4, Teredo) are judged by that address too.
    """
    embedded = []
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [a for a in (address.ipv4_mapped, address.sixtofour, address.teredo and address.teredo[1]) if a]
    for candidate in (address, *embedded):
        for prop in NON_PUBLIC_PROPERTIES:
            if getattr(candidate, prop):
                return prop.removeprefix("is_").replace("_", "-")
        if not candidate.is_global:
            return "shared" if candidate in ipaddress.ip_network("100.64.0.0/10") else "non-global"
    return None


def check_url_scheme(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; anything else is refused."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"Only http(s) URLs can be ingested, not {parts.scheme}://; download the file and ingest its path.")
    if not parts.hostname:
        raise FetchError(f"The URL {url!r} has no host name.")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError as exc:
        raise FetchError(f"The URL {url!r} has an invalid port; check the URL.") from exc
    return parts.scheme.lower(), parts.hostname, port


def checked_addresses(host: str, infos: list, allow_private: bool) -> list[str]:
    """The addresses a host resolved to, when every one of them may be fetched."""
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not allow_private:
        for address in addresses:
            reason = non_public_reason(address)
            if reason:
                raise FetchError(
                    f"{host} resolves to the {reason} address {address}, which is not a public address; such URLs "
                    "are refused unless BEACON_ALLOW_PRIVATE_URLS=true."
                )
    if not addresses:
        raise FetchError(f"Cannot resolve {host!r}; check the URL and the network.")
    return [str(a) for a in addresses]


async def _resolve(host: str, port: int, allow_private: bool) -> str:
    """The one address to connect to: resolved once, checked, then used as is (a second lookup
    could return another address: DNS rebinding)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"Cannot resolve {host!r} ({exc}); check the URL and the network.") from exc
    return checked_addresses(host, infos, allow_private)[0]


def fetch_url(url: str, max_bytes: int, timeout_s: float, allow_private: bool) -> tuple[bytes, str]:
    """Body and format of a URL, within the size limit and a deadline for the whole fetch
    (name resolution, connections, redirects and body together)."""
    check_url_scheme(url)
    try:
        return asyncio.run(_fetch_within(url, max_bytes, timeout_s, allow_private))
    except TimeoutError as exc:
        raise FetchError(
            f"Fetching {url} timed out: it did not finish within {timeout_s:g} s; try again later or raise BEACON_FETCH_TIMEOUT_S "
            "(the limit for the whole download)."
        ) from exc


async def _fetch_within(url: str, max_bytes: int, timeout_s: float, allow_private: bool) -> tuple[bytes, str]:
    async with asyncio.timeout(timeout_s):
        current = url
        for _ in range(MAX_REDIRECTS + 1):  # redirects followed by hand, so every hop is checked
            body, location, content_type = await _get_once(current, max_bytes, timeout_s, allow_private)
            if location is None:
                return body, _format_of_response(current, content_type)
            current = location
        raise FetchError(f"Too many redirects fetching {url}.")


async def _get_once(url: str, max_bytes: int, timeout_s: float, allow_private: bool) -> tuple[bytes, str | None, str]:
    """(body, redirect location or None, content type) of one request, sent to the address
    its host name was checked at; a connection of its own, so TLS is verified for this host."""
    import httpx

    scheme, _, port = check_url_scheme(url)
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded, as DNS, Host and SNI want it
    target = parsed.copy_with(host=await _resolve(host, port, allow_private))
    headers = {"Host": parsed.netloc.decode("ascii"), "User-Agent": USER_AGENT}
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    try:
        # trust_env=False: a proxy from the environment would connect to addresses never checked.
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, trust_env=False) as client:
            async with client.stream("GET", target, headers=headers, extensions=extensions) as response:
                if response.is_redirect:
                    return b"", str(parsed.join(response.headers.get("location", ""))), ""
                if response.status_code >= 400:
                    raise FetchError(f"The server answered HTTP {response.status_code} for {url}.")
                body = bytearray()
                async for block in response.aiter_bytes():
                    body.extend(block)
                    if len(body) > max_bytes:
                        raise FetchError(f"The download is over the {max_bytes / 1e6:.0f} MB limit; raise BEACON_MAX_FILE_MB to allow it.")
                return bytes(body), None, response.headers.get("content-type", "").split(";")[0].strip().lower()
    except httpx.TimeoutException as exc:
        raise TimeoutError from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"Fetching {url} failed: {exc}.") from exc


def _format_of_response(url: str, content_type: str) -> str:
    if content_type in CONTENT_TYPES:
        return CONTENT_TYPES[content_type]
    suffix = Path(urlsplit(url).path).suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    raise FetchError(f"The URL returned {content_type or 'no content type'}, which Beacon cannot read.")
