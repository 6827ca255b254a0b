"""`beacon ingest --manifest`: fetch and ingest listed documents, one clear error per failure."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli.main import app
from ingest.manifest import read_manifest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


@pytest.fixture()
def corpus_server():
    """A real HTTP server on 127.0.0.1 serving ../shared/corpus."""
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(CORPUS))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_manifest_fetches_each_document_and_reports_failures_per_document(tmp_path, corpus_server, monkeypatch):
    manifest = tmp_path / "sources.toml"
    manifest.write_text(
        f'''
[[document]]
title = "Palermo Protocol"
symbol = "A/RES/55/25"
year = 2000
url = "{corpus_server}/un-palermo-protocol-2000.md"

[[document]]
title = "ILO C182"
year = 1999
url = "{corpus_server}/ilo-c182-worst-forms-child-labour-1999.md"
status = "in-force"
amends = ["C138"]
valid_from = "2000-11-19"
collections = ["Treaties", "Child labour"]

[[document]]
title = "Missing"
year = 2001
url = "{corpus_server}/no-such-document.pdf"
''',
        encoding="utf-8",
    )
    monkeypatch.setenv("BEACON_ALLOW_PRIVATE_URLS", "1")
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "data"), "ingest", "--manifest", str(manifest), "--json"])
    assert result.exit_code == 1, result.output
    docs = {Path(d["source"]).name: d for d in json.loads(result.stdout)["documents"]}
    assert docs["un-palermo-protocol-2000.md"]["status"] == "added"
    assert docs["un-palermo-protocol-2000.md"]["chunks"] > 10
    assert docs["ilo-c182-worst-forms-child-labour-1999.md"]["status"] == "added"
    assert docs["no-such-document.pdf"]["status"] == "failed"
    assert "404" in docs["no-such-document.pdf"]["error"]

    listed = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "data"), "docs", "list", "--json"])
    sources = {d["source"] for d in json.loads(listed.stdout)["documents"]}
    assert sources == {f"{corpus_server}/un-palermo-protocol-2000.md", f"{corpus_server}/ilo-c182-worst-forms-child-labour-1999.md"}
    by_name = {Path(d["source"]).name: d for d in json.loads(listed.stdout)["documents"]}
    c182 = by_name["ilo-c182-worst-forms-child-labour-1999.md"]
    assert (c182["status"], c182["amends"], c182["valid_from"], c182["collections"]) == ("in_force", ["C138"], "2000-11-19", ["Treaties", "Child labour"])
    assert by_name["un-palermo-protocol-2000.md"]["collections"] == [], "a document that states no fields gets none"


@pytest.mark.parametrize(
    ("line", "message"),
    [('status = "expired"', "status in manifest"), ('valid_from = "spring 2013"', "valid_from in manifest"), ('supersedes = ["<b>"]', "supersedes in manifest"), ('colour = "red"', None)],
)
def test_manifest_version_fields_are_validated_as_docs_set_validates_them(tmp_path, line, message):
    manifest = tmp_path / "sources.toml"
    manifest.write_text(f'[[document]]\ntitle = "x"\nurl = "https://example.org/x.md"\n{line}\n', encoding="utf-8")
    if message is None:  # other keys (title, symbol, notes…) are the manifest's own, not version fields
        assert read_manifest(manifest)[0]["colour"] == "red"
        return
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "data"), "ingest", "--manifest", str(manifest)])
    assert result.exit_code == 2 and message in result.output and "document 1" in result.output
    assert not (tmp_path / "data" / "chroma").exists() or "0 documents" in CliRunner().invoke(app, ["--data-dir", str(tmp_path / "data"), "docs", "list"]).output


def test_manifest_urls_on_loopback_are_refused_by_default(tmp_path, corpus_server, monkeypatch):
    monkeypatch.delenv("BEACON_ALLOW_PRIVATE_URLS", raising=False)
    manifest = tmp_path / "sources.toml"
    manifest.write_text(f'[[document]]\ntitle = "x"\nurl = "{corpus_server}/un-palermo-protocol-2000.md"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "data"), "ingest", "--manifest", str(manifest), "--json"])
    assert result.exit_code == 1
    (doc,) = json.loads(result.stdout)["documents"]
    assert doc["status"] == "failed" and "BEACON_ALLOW_PRIVATE_URLS" in doc["error"]


def test_bad_manifest_is_a_clear_usage_error(tmp_path):
    manifest = tmp_path / "sources.toml"
    manifest.write_text('[[document]]\ntitle = "no url"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "data"), "ingest", "--manifest", str(manifest)])
    assert result.exit_code == 2
    assert "url" in result.output


def test_shipped_manifest_lists_public_https_documents():
    entries = read_manifest(REPO / "knowledge" / "sources.toml")
    assert len(entries) >= 8
    for entry in entries:
        assert entry["url"].startswith("https://")
        assert entry["title"]
    by_symbol = {e["symbol"]: e for e in entries if e.get("symbol")}
    assert by_symbol["PC.DEC/1107"]["amends"] == ["PC.DEC/557"] and by_symbol["Directive (EU) 2024/1712"]["amends"] == ["Directive 2011/36/EU"]
    assert by_symbol["PC.DEC/557"]["collections"] == ["OSCE commitments"]
