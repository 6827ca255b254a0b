"""Settings: every field documented in the README, read from `BEACON_*`, validated at start-up,
and actually used (a setting that is accepted and ignored is a bug)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant import ConfigError, Settings, build_assistant

README = Path(__file__).resolve().parents[1] / "README.md"


def documented_settings() -> set[str]:
    """`BEACON_*` names in the first column of README.md's settings table."""
    text = README.read_text(encoding="utf-8")
    return set(re.findall(r"^\|\s*`(BEACON_[A-Z0-9_]+)`\s*\|", text, flags=re.MULTILINE))


def test_every_setting_is_documented_in_the_readme():
    documented = documented_settings()
    missing = sorted(f"BEACON_{name.upper()}" for name in Settings.model_fields if f"BEACON_{name.upper()}" not in documented)
    assert not missing, f"README.md's settings table does not document: {', '.join(missing)}"


def test_environment_variables_override_defaults(monkeypatch, tmp_path):
    assert Settings().top_k == 5
    monkeypatch.setenv("BEACON_TOP_K", "7")
    monkeypatch.setenv("BEACON_DATA_DIR", str(tmp_path / "lib"))
    monkeypatch.setenv("BEACON_ALLOW_PRIVATE_URLS", "1")
    monkeypatch.setenv("BEACON_MIN_CONFIDENCE", "0.45")
    settings = Settings()
    assert settings.top_k == 7
    assert settings.data_dir == tmp_path / "lib"
    assert settings.allow_private_urls is True
    assert settings.min_confidence == 0.45


def test_keyword_arguments_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("BEACON_TOP_K", "7")
    assert Settings(top_k=3).top_k == 3


def test_default_data_dir_follows_xdg_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert Settings().data_dir == tmp_path / "beacon"


def test_chunk_overlap_not_smaller_than_chunk_size_is_a_config_error():
    with pytest.raises(ConfigError, match="BEACON_CHUNK_OVERLAP.*BEACON_CHUNK_SIZE"):
        Settings(chunk_size=300, chunk_overlap=300)
    with pytest.raises(ConfigError):
        Settings(chunk_size=300, chunk_overlap=450)
    assert Settings(chunk_size=300, chunk_overlap=299).chunk_overlap == 299


def test_chunk_overlap_from_the_environment_is_checked_too(monkeypatch):
    monkeypatch.setenv("BEACON_CHUNK_SIZE", "400")
    monkeypatch.setenv("BEACON_CHUNK_OVERLAP", "400")
    with pytest.raises(ConfigError):
        Settings()


def test_empty_chroma_host_is_a_config_error_not_a_silent_fallback(monkeypatch):
    monkeypatch.setenv("BEACON_CHROMA_HOST", "  ")
    with pytest.raises(ConfigError, match="BEACON_CHROMA_HOST"):
        Settings()


def test_missing_embedding_model_folder_is_a_config_error(tmp_path):
    beacon = build_assistant(Settings(data_dir=tmp_path / "data", embed_model_path=tmp_path / "no-model-here"))
    with pytest.raises(ConfigError, match="BEACON_EMBED_MODEL_PATH"):
        beacon.ask("What is trafficking in persons?")


# --- settings reach the part that uses them -----------------------------------------------
LONG_SECTION = "# Prevention measures\n\n" + "\n\n".join(
    f"Measure {i}: States shall run awareness campaigns, train frontline workers and reduce the demand that fosters exploitation in sector {i}."
    for i in range(1, 16)
) + "\n"


def test_chunk_size_reaches_the_chunker(tmp_path):
    doc = tmp_path / "measures.md"
    doc.write_text(LONG_SECTION, encoding="utf-8")
    small = build_assistant(Settings(data_dir=tmp_path / "small", chunk_size=200, chunk_overlap=0))
    large = build_assistant(Settings(data_dir=tmp_path / "large", chunk_size=2000, chunk_overlap=0))
    small_chunks = small.document_chunks(small.ingest([str(doc)])[0].doc_id)
    large_chunks = large.document_chunks(large.ingest([str(doc)])[0].doc_id)
    assert all(len(c["text"]) <= 200 for c in small_chunks)
    assert len(small_chunks) > len(large_chunks) >= 1


def test_top_k_reaches_retrieval(tmp_path):
    doc = tmp_path / "measures.md"
    doc.write_text(LONG_SECTION, encoding="utf-8")
    beacon = build_assistant(Settings(data_dir=tmp_path / "data", chunk_size=200, chunk_overlap=0, top_k=2))
    beacon.ingest([str(doc)])
    assert beacon.chunk_count() > 2
    assert len(beacon.ask("Which measures shall States take against exploitation?").retrieved) <= 2


def test_collection_setting_separates_libraries_in_one_data_dir(tmp_path, article_markdown):
    first = build_assistant(Settings(data_dir=tmp_path / "data", collection="first"))
    second = build_assistant(Settings(data_dir=tmp_path / "data", collection="second"))
    first.ingest([str(article_markdown)])
    assert [d.source for d in first.list_documents()] == [str(article_markdown)]
    assert second.list_documents() == []


@pytest.mark.parametrize("name", ["BEACON_DATA_DIR", "BEACON_CACHE_DIR"])
def test_empty_folder_variable_is_a_config_error_not_the_working_directory(monkeypatch, name):
    monkeypatch.setenv(name, "")
    with pytest.raises(ConfigError, match=f"{name} is set but empty"):
        Settings()
