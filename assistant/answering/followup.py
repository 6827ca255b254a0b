"""Follow-up questions made standalone, so retrieval can use them.

`FollowUpRewriter` turns "and for children?" into a question retrieval can use, from the
conversation so far: with the LLM when one is configured (kept only if it completes the
question with the conversation's own words), otherwise with a deterministic rule. The LLM
plumbing (LangChain) is imported only when a model is given: the extractive mode never loads it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from assistant.domain.errors import BeaconError
from assistant.domain.text import ALL_STOPWORDS, TOKEN_RE, normalize, tokenize, words

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel

CONNECTORS = (
    "and", "what about", "how about", "also", "or", "but", "same for", "what if",
    "und", "was ist mit", "et", "et pour", "qu'en est-il", "и", "а как", "а",
)
ANAPHORA = {
    "it", "its", "they", "them", "their", "this", "that", "these", "those", "there", "he", "she", "his", "her", "such", "same",
    "il", "elle", "ils", "elles", "leur", "leurs", "cela", "ça", "ce", "ces", "er", "sie", "es", "dies", "diese", "dieser", "dort",
    "он", "она", "оно", "они", "это", "этот", "эти", "там",
}
MAX_HISTORY_MESSAGES = 8
MAX_MESSAGE_CHARS = 400


def _known(term: str, vocabulary: set[str]) -> bool:
    """Whether a term was used, allowing inflections the stemmer keeps apart (child/children)."""
    return term in vocabulary or (len(term) >= 4 and any(v[:4] == term[:4] for v in vocabulary if len(v) >= 4))


def is_follow_up(question: str) -> bool:
    """Whether a question leans on the conversation: it opens with a connector ("and for
    children?", "what about Moldova?"), has fewer than two key terms ("Why?", "Which
    article?"), or points back with a pronoun while short ("Who signed it?")."""
    ws = words(question)
    text = " ".join(ws)
    if any(text == c or text.startswith(c + " ") for c in CONNECTORS):
        return True
    terms = tokenize(question)
    return len(terms) < 2 or (len(terms) < 5 and any(w in ANAPHORA for w in ws))


def key_words(question: str) -> list[str]:
    """The question's words that carry meaning, as written (capitals kept for names)."""
    found = TOKEN_RE.findall(unicodedata.normalize("NFKC", question))
    return list(dict.fromkeys(w for w in found if normalize(w) not in ALL_STOPWORDS))


def rewrite_deterministic(question: str, previous: str) -> str:
    """Prefix a follow-up with the previous question's key words it does not repeat."""
    if not previous or not is_follow_up(question):
        return question
    own = set(tokenize(question))
    carried = [w for w in key_words(previous) if not set(tokenize(w)) <= own]
    return f"{' '.join(carried)}: {question}" if carried else question


class FollowUpRewriter:
    """Standalone questions from a conversation; `model=None` uses the deterministic rule."""

    def __init__(self, model: BaseChatModel | None = None):
        self.chain = None
        if model is not None:
            from assistant.llm.backends import rewrite_chain

            self.chain = rewrite_chain(model)

    def rewrite(self, question: str, history: list[dict] | None) -> str:
        turns = [m for m in history or [] if str(m.get("content", "")).strip()]
        if turns and turns[-1].get("role") == "user" and " ".join(turns[-1]["content"].split()) == question:
            turns.pop()  # the history already ends with the question being asked
        previous = ""
        for m in turns:  # earlier questions may be follow-ups themselves
            if m.get("role") == "user":
                previous = rewrite_deterministic(" ".join(m["content"].split()), previous)
        if not previous:
            return question
        if self.chain is not None and (is_follow_up(question) or ANAPHORA & set(words(question))):
            # A self-contained question is left alone: a small model "completing" it can only
            # add terms the user did not ask about.
            rewritten = self._rewrite_with_llm(question, turns)
            if rewritten:
                return rewritten
        return rewrite_deterministic(question, previous)

    def _rewrite_with_llm(self, question: str, history: list[dict]) -> str | None:
        """The LLM's standalone question, or None when it is not a faithful completion: it must
        keep every key term of the question, add one from the conversation and invent none."""
        lines = []
        for m in history[-MAX_HISTORY_MESSAGES:]:
            content = " ".join(str(m.get("content", "")).split())[:MAX_MESSAGE_CHARS]
            lines.append(f"{'User' if m.get('role') == 'user' else 'Assistant'}: {content}")
        try:
            out = self.chain.invoke({"conversation": "\n".join(lines), "question": question})
        except Exception as exc:  # a failed rewrite must not fail the question
            from assistant.llm.backends import is_backend_error

            if isinstance(exc, BeaconError) or is_backend_error(exc):
                return None
            raise
        out = re.sub(r"^\s*(?:standalone question|question)\s*:\s*", "", " ".join(out.split()), flags=re.IGNORECASE).strip(" \"'")
        if not out or len(out) > 3 * len(question) + 200:
            return None
        own, said = set(tokenize(question)), set(tokenize(" ".join(lines)))
        terms = set(tokenize(out))
        if not own <= terms:
            return None  # it dropped or changed what the user asked
        if not terms - own:
            return None  # it resolved nothing from the conversation
        if any(not _known(t, own | said) for t in terms):
            return None  # it brought in words nobody used: the guess of a model, not the conversation
        return out
