"""Bad input: every broken file gets a clear error of its own, the good ones are ingested, and
the store keeps no trace of what failed."""

from __future__ import annotations

import http.server
import io
import threading
import time
import zipfile
from pathlib import Path

import pytest
from conftest import library_store

from assistant import NotFound, Settings, build_assistant

GOOD_TEXT = "Article 1\n\nStates shall prevent trafficking in persons through research and campaigns.\n"


@pytest.fixture(scope="module")
def beacon(tmp_path_factory):
    return build_assistant(Settings(data_dir=tmp_path_factory.mktemp("data"), max_file_mb=1, fetch_timeout_s=2, allow_private_urls=True))


def ingest_with_good_file(beacon, tmp_path: Path, bad: Path):
    good = tmp_path / "good.md"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    reports = {Path(r.source).name: r for r in beacon.ingest([str(good), str(bad)])}
    assert reports["good.md"].status in ("added", "unchanged")
    failed = reports[bad.name]
    assert failed.status == "failed"
    assert_no_chunks(beacon, failed.doc_id)
    return failed.error


def assert_no_chunks(beacon, doc_id: str) -> None:
    """A failed document must leave no chunks."""
    with pytest.raises(NotFound):
        beacon.document_chunks(doc_id)


def pdf_bytes(text: str | None = None, image: Path | None = None, password: str | None = None) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    if text:
        pdf.multi_cell(0, 8, text)
    if image:
        pdf.image(str(image), x=10, y=10, w=120)
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password)
    return bytes(pdf.output())


def test_zero_byte_file(beacon, tmp_path):
    bad = tmp_path / "empty.txt"
    bad.write_bytes(b"")
    assert "empty" in ingest_with_good_file(beacon, tmp_path, bad)


@pytest.mark.parametrize("name", ["junk.pdf", "junk.docx"])
def test_binary_junk_with_a_document_extension(beacon, tmp_path, name):
    bad = tmp_path / name
    bad.write_bytes(bytes(range(256)) * 40)
    error = ingest_with_good_file(beacon, tmp_path, bad)
    assert "PDF" in error or ".docx" in error


def test_truncated_pdf(beacon, tmp_path):
    data = pdf_bytes("Article 1 text about prevention. " * 200)
    bad = tmp_path / "truncated.pdf"
    bad.write_bytes(data[: len(data) // 2])
    assert "damaged" in ingest_with_good_file(beacon, tmp_path, bad)


def test_encrypted_pdf(beacon, tmp_path):
    bad = tmp_path / "locked.pdf"
    bad.write_bytes(pdf_bytes("Confidential guidance on referral.", password="secret"))
    assert "encrypted" in ingest_with_good_file(beacon, tmp_path, bad)


def test_image_only_pdf_says_ocr_is_not_enabled(beacon, tmp_path):
    from PIL import Image

    picture = tmp_path / "scan.png"
    Image.new("RGB", (300, 120), (180, 40, 40)).save(picture)
    bad = tmp_path / "scan.pdf"
    bad.write_bytes(pdf_bytes(image=picture))
    error = ingest_with_good_file(beacon, tmp_path, bad)
    assert "no extractable text" in error and "OCR is not enabled" in error


def test_docx_zip_bomb_is_not_unpacked(beacon, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (210 * 1024 * 1024))
    bad = tmp_path / "bomb.docx"
    bad.write_bytes(buffer.getvalue())
    assert bad.stat().st_size < 1024 * 1024  # small on disk, huge unpacked
    assert "zip bomb" in ingest_with_good_file(beacon, tmp_path, bad)


def test_file_over_the_size_limit(beacon, tmp_path):
    bad = tmp_path / "huge.txt"
    bad.write_text("Trafficking prevention guidance. " * 40_000, encoding="utf-8")  # ~1.3 MB > 1 MB limit
    assert "BEACON_MAX_FILE_MB" in ingest_with_good_file(beacon, tmp_path, bad)


def test_unsupported_type(beacon, tmp_path):
    bad = tmp_path / "slides.pptx"
    bad.write_bytes(b"PK\x03\x04 not really")
    assert "Unsupported file type '.pptx'" in ingest_with_good_file(beacon, tmp_path, bad)


def test_non_utf8_text_is_decoded(beacon, tmp_path):
    text = (
        "Prévention de la traite des êtres humains.\n\n"
        "Les États participants s'engagent à protéger les victimes et à poursuivre les trafiquants; "
        "la coopération régionale et l'échange d'informations sont essentiels à l'efficacité des mesures prises.\n"
    )
    path = tmp_path / "latin1.txt"
    path.write_bytes(text.encode("cp1252"))
    (report,) = beacon.ingest([str(path)])
    assert report.status == "added", report.error
    stored = " ".join(c["text"] for c in beacon.document_chunks(report.doc_id))
    assert "États participants" in stored and "coopération régionale" in stored


def test_html_scripts_styles_and_hidden_text_are_dropped(beacon, tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        """<html><head><title>Referral guide</title><style>.x { color: red }</style>
        <script>var secret = "SCRIPT-PAYLOAD";</script></head><body>
        <article><h1>Referral guide</h1>
        <p>National Referral Mechanisms co-ordinate the identification and assistance of presumed victims of trafficking.</p>
        <p style="display:none">HIDDEN-PAYLOAD should never be indexed.</p>
        <div hidden>ALSO-HIDDEN text.</div>
        <p>Front-line staff are trained to recognise indicators and refer people to specialised support services.</p>
        </article></body></html>""",
        encoding="utf-8",
    )
    (report,) = beacon.ingest([str(path)])
    assert report.status == "added", report.error
    stored = " ".join(c["text"] for c in beacon.document_chunks(report.doc_id))
    assert "National Referral Mechanisms" in stored
    for payload in ("SCRIPT-PAYLOAD", "HIDDEN-PAYLOAD", "ALSO-HIDDEN", "color: red"):
        assert payload not in stored


class QuietHTMLHandler(http.server.BaseHTTPRequestHandler):
    def send_html(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class SlowOrBrokenHandler(QuietHTMLHandler):
    def do_GET(self):  # noqa: N802 - http.server naming
        if self.path.startswith("/slow"):
            time.sleep(4)
        if self.path.startswith("/error"):
            self.send_response(500)
            self.end_headers()
            return
        self.send_html(b"<html><body><p>Too late.</p></body></html>")


@pytest.fixture()
def flaky_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowOrBrokenHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_that_times_out_or_errors(beacon, flaky_server):
    reports = beacon.ingest([f"{flaky_server}/slow.html", f"{flaky_server}/error.html"])
    by_url = {r.source: r for r in reports}
    slow, broken = by_url[f"{flaky_server}/slow.html"], by_url[f"{flaky_server}/error.html"]
    assert slow.status == "failed" and "timed out" in slow.error
    assert broken.status == "failed" and "HTTP 500" in broken.error
    assert_no_chunks(beacon, slow.doc_id)
    assert_no_chunks(beacon, broken.doc_id)


def test_file_urls_and_private_addresses_are_refused(tmp_path):
    strict = build_assistant(Settings(data_dir=tmp_path / "strict"))
    reports = strict.ingest(["file:///etc/passwd", "http://127.0.0.1:9/x.html", "http://169.254.169.254/latest"])
    assert [r.status for r in reports] == ["failed"] * 3
    assert "http(s)" in reports[0].error
    assert "BEACON_ALLOW_PRIVATE_URLS" in reports[1].error and "BEACON_ALLOW_PRIVATE_URLS" in reports[2].error


# -- encodings and markup --------------------------------------------------------------------------
UTF16_TEXT = (
    "The participating States commit to prevent trafficking in human beings.\n\n"
    "Article 2\n\nProtection of victims comes first: they receive shelter, medical care and legal advice.\n"
)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_text_without_a_byte_order_mark(beacon, tmp_path, encoding):
    path = tmp_path / f"no-bom-{encoding}.txt"
    path.write_bytes(UTF16_TEXT.encode(encoding))
    (report,) = beacon.ingest([str(path)])
    assert report.status == "added", report.error
    stored = " ".join(c["text"] for c in beacon.document_chunks(report.doc_id))
    assert "\x00" not in stored and "\x00" not in report.title
    assert "Protection of victims comes first" in stored


def test_html_text_has_no_markdown_escapes(beacon, tmp_path):
    path = tmp_path / "escapes.html"
    path.write_text(
        "<html><head><title>Reporting form</title></head><body><article><h1>Reporting form</h1>"
        "<p>Fill in the field case_reference_number when fewer than 3 < 5 victims are identified [see annex].</p>"
        "<p>Mark urgent cases with *priority* and keep the file name report_2024_final.pdf.</p>"
        "<p># 12 is the form number, not a heading.</p>"
        "</article></body></html>",
        encoding="utf-8",
    )
    (report,) = beacon.ingest([str(path)])
    assert report.status == "added", report.error
    stored = " ".join(c["text"] for c in beacon.document_chunks(report.doc_id))
    assert "case_reference_number" in stored and "3 < 5 victims" in stored and "[see annex]" in stored
    assert "report_2024_final.pdf" in stored and "# 12 is the form number" in stored
    assert "\\" not in stored


def test_deeply_nested_page_keeps_its_sentence(beacon, tmp_path):
    path = tmp_path / "nested.html"
    sentence = "Labour inspectors must be trained to recognise the indicators of forced labour."
    path.write_text("<html><body>" + "<div>" * 10_000 + f"<p>{sentence}</p>" + "</div>" * 10_000 + "</body></html>", encoding="utf-8")
    (report,) = beacon.ingest([str(path)])
    assert report.status == "added", report.error
    assert sentence in " ".join(c["text"] for c in beacon.document_chunks(report.doc_id))


# -- URL fetching: deadline, write lock, addresses ---------------------------------------------------
class DripHandler(QuietHTMLHandler):
    """Answers at once, then sends its body one byte every 0.2 s (for at most 20 s)."""

    def do_GET(self):  # noqa: N802 - http.server naming
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        try:
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass  # the client gave up, as it should


def test_a_slow_drip_server_cannot_hold_a_fetch_beyond_its_deadline(beacon):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), DripHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        start = time.monotonic()
        (report,) = beacon.ingest([f"http://127.0.0.1:{server.server_address[1]}/drip.txt"])
        elapsed = time.monotonic() - start
    finally:
        server.shutdown()
        server.server_close()
    assert report.status == "failed" and "within 2 s" in report.error and "BEACON_FETCH_TIMEOUT_S" in report.error
    assert elapsed < 4, f"the fetch took {elapsed:.1f} s with BEACON_FETCH_TIMEOUT_S=2"


def test_the_write_lock_is_taken_only_after_the_download(tmp_path):
    from assistant.domain.errors import StoreLocked

    requested, release = threading.Event(), threading.Event()

    class HeldHandler(QuietHTMLHandler):
        def do_GET(self):  # noqa: N802 - http.server naming
            requested.set()
            release.wait(10)
            self.send_html(b"<html><body><article><p>Shelters must be open to all presumed victims of trafficking, whatever their status.</p></article></body></html>")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HeldHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = Settings(data_dir=tmp_path / "data", allow_private_urls=True, fetch_timeout_s=15)
    store = library_store(settings)
    beacon = build_assistant(settings, store=store)
    reports = []
    ingest = threading.Thread(target=lambda: reports.extend(beacon.ingest([f"http://127.0.0.1:{server.server_address[1]}/page.html"])))
    ingest.start()
    try:
        assert requested.wait(10)
        try:
            with store.write_lock():
                pass  # another writer (a removal, a CLI ingest) is not blocked by a download
        except StoreLocked:
            pytest.fail("the library's write lock was held while a URL was still downloading")
    finally:
        release.set()
        ingest.join(30)
        server.shutdown()
        server.server_close()
    assert [r.status for r in reports] == ["added"], reports


NON_PUBLIC = [
    "100.64.0.1", "100.100.100.200", "10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "127.1.2.3", "169.254.169.254",
    "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "198.18.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "::ffff:127.0.0.1", "::ffff:100.64.0.1", "2002:7f00:1::",
]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_every_non_public_address_is_refused(address):
    import ipaddress

    from ingest.sources import non_public_reason

    assert non_public_reason(ipaddress.ip_address(address)), address


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    import ipaddress

    from ingest.sources import non_public_reason

    assert non_public_reason(ipaddress.ip_address(address)) is None


def run_without_network(script: str) -> dict:
    """Run Python in a network namespace of its own (only its own loopback exists), so whatever
    it tries to reach, no packet leaves this machine."""
    import json
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs `unshare -rn` (user and network namespaces)")
    command = f"ip link set lo up 2>/dev/null; exec {sys.executable} -c \"$0\""
    done = subprocess.run(["unshare", "-rn", "sh", "-c", command, script], capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_shared_and_multicast_addresses_are_refused_before_any_connection():
    urls = ["http://100.64.0.1/latest/meta-data", "http://100.100.100.200/latest", "http://224.0.0.1/x.html", "http://[::ffff:100.64.0.1]/x.html", "http://[ff02::1]/x.html"]
    script = f"""
import json
from ingest.sources import fetch_url
errors = {{}}
for url in {urls!r}:
    try:
        fetch_url(url, 1_000_000, 5, allow_private=False)
        errors[url] = "fetched"
    except Exception as exc:
        errors[url] = str(exc)
print(json.dumps(errors))
"""
    for url, error in run_without_network(script).items():
        assert "BEACON_ALLOW_PRIVATE_URLS" in error, (url, error)


def test_the_connection_goes_to_the_address_that_was_checked():
    """A name that resolves to a public address when checked and to loopback when connecting
    (DNS rebinding) must not reach the loopback server."""
    script = """
import functools, http.server, json, socket, threading
from ingest.sources import fetch_url

hits = []

class Internal(http.server.SimpleHTTPRequestHandler):  # an internal service: serves this folder
    def log_message(self, format, *args):
        hits.append(args[0])

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Internal, directory="."))
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]
answers = iter(["93.184.216.34"] + ["127.0.0.1"] * 10)  # the rebinding name server: public first, then loopback
real_getaddrinfo = socket.getaddrinfo

def rebinding_getaddrinfo(host, *args, **kwargs):
    if host == "rebind.example":
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
    return real_getaddrinfo(host, *args, **kwargs)

socket.getaddrinfo = rebinding_getaddrinfo
try:
    fetch_url(f"http://rebind.example:{port}/README.md", 1_000_000, 5, allow_private=False)
    outcome = "fetched"
except Exception as exc:
    outcome = str(exc)
print(json.dumps({"outcome": outcome, "hits": hits}))
"""
    result = run_without_network(script)
    assert result["hits"] == [], "the loopback server was reached through a rebinding name"
    assert result["outcome"] != "fetched"
