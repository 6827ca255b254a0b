"""Safety referral: when a question discloses immediate danger or exploitation of the asker or
someone close to them, Beacon shows where to get help *before* any answer.

Detection is deliberately simple and auditable (phrase patterns in English, French, German and
Russian): a disclosure needs both a personal reference ("my employer", "my sister", "je", "ich",
"меня") and a sign of control or harm (passport taken, not allowed to leave, forced to work,
threats, unpaid debt). Questions *about* these topics ("What is passport confiscation?") do
not trigger it. The numbers come from a table trainers can edit (`assistant/answering/referrals.toml`, shipped with the package).
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

from pydantic import BaseModel

from assistant.domain.errors import ConfigError
from assistant.domain.models import Referral

DEFAULT_EMERGENCY = "112"
SHIPPED_FILE = "referrals.toml"

PERSONAL = re.compile(
    r"\b(i|i'm|i am|me|my|we|us|our|mine|myself)\b"
    r"|\b(je|j'|moi|mon|ma|mes|nous|notre|nos)\b"
    r"|\b(ich|mich|mir|mein|meine|meinen|meinem|meiner|wir|uns|unser|unsere)\b"
    r"|(?<![а-яё])(я|меня|мне|мой|моя|мою|моё|мои|моего|моей|мы|нас|нам|наш|наша)(?![а-яё])",
    re.IGNORECASE,
)

DANGER = [
    # documents withheld
    r"\b(took|taken|takes|take|keeps?|kept|holds?|held|confiscated?|withh[oe]ld(ing)?|won'?t (give|return))\b.{0,40}\b(passport|papers|documents|id card|identity card|visa)\b",
    r"\b(passport|papers|documents|id card)\b.{0,30}\b(taken|confiscated|withheld|kept)\b",
    # movement restricted
    r"\b(won'?t|will not|doesn'?t|does not|don'?t|do not|can'?t|cannot|not allowed to|unable to)\b.{0,25}\b(let (me|us|her|him|them) (leave|go)|leave|go out|escape)\b",
    r"\b(locked (in|up)|trapped|held captive|held against)\b",
    # force, threats, violence
    r"\b(forced|forcing|force[sd]? me|made me|makes me|coerced)\b.{0,30}\b(work|sex|prostitut\w*|beg|steal|sell|marry|scam\w*)\b",
    r"\b(threaten(s|ed|ing)?|beat(s|en)?|hit(s)? me|hurt(s)? me|abus(e|es|ed|ing))\b",
    r"\b(debt|owe)\b.{0,40}\b(can'?t|cannot|never|won'?t)\b.{0,20}\b(pay|repay|leave)\b",
    r"\b(not|never|haven'?t been|wasn'?t|isn'?t) (been )?paid\b.{0,40}\b(leave|passport|threat\w*)\b",
    # French
    r"\b(a pris|ont pris|garde|confisqu\w*|retient)\b.{0,30}\b(passeport|papiers|documents)\b",
    r"\b(ne me laisse pas|m'emp[eê]che de|interdit de) (partir|sortir)\b|\benferm[ée]e?s?\b",
    r"\b(forc[ée]e?s?|oblig[ée]e?s?) (à|de) (travailler|me prostituer|voler|mendier)\b|\bmenac\w*\b",
    # German
    r"\b(hat|haben|nahm|nimmt|behält|behalten|einbehalten|weggenommen)\b.{0,40}\b(pass|reisepass|papiere|ausweis|dokumente)\b",
    r"\b(pass|reisepass|papiere|ausweis)\b.{0,40}\b(weggenommen|abgenommen|einbehalten)\b",
    r"\b(lässt|lassen) (mich|uns) nicht (gehen|weg|raus)\b|\beingesperrt\b|\b(gezwungen|zwingt|zwingen)\b|\bbedroh\w*\b",
    # Russian
    r"(забрал\w*|отобрал\w*|отняли|держит|удерживает)[^.?!]{0,30}(паспорт\w*|документ\w*)",
    r"(не (отпускает|отпускают|дают уйти|выпускают))|заперт\w*|(заставля\w*|принужда\w*)|угрожа\w*",
]
DANGER_RE = [re.compile(p, re.IGNORECASE) for p in DANGER]
ABOUT_TOPIC = re.compile(r"^\s*(what|how|why|which|does|do|is|are|can|define|explain|qu'est|quel|was|wie|welche|что такое|как)\b.{0,60}\b(mean|definition|defined|define|law|protocol|convention|directive|article|considered|count as|indicator|signifie|bedeutet|означает)\b", re.IGNORECASE)


class ReferralTable(BaseModel):
    default_emergency: str = DEFAULT_EMERGENCY
    what_to_do: list[str]
    countries: dict[str, dict]

    @classmethod
    def load(cls, path: Path | None) -> "ReferralTable":
        if path is None or not Path(path).exists():
            return cls(what_to_do=DEFAULT_STEPS, countries={})
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"The referral table {path} cannot be read ({exc}); fix it or point BEACON_REFERRALS_FILE elsewhere.") from exc
        return cls.from_toml(text, str(path))

    @classmethod
    def shipped(cls) -> "ReferralTable":
        """The referral cards that ship inside the package (safety content must not depend on
        the repository checkout being beside the installed code)."""
        text = resources.files(__package__).joinpath(SHIPPED_FILE).read_text(encoding="utf-8")
        return cls.from_toml(text, f"{__package__}/{SHIPPED_FILE}")

    @classmethod
    def from_toml(cls, text: str, origin: str) -> "ReferralTable":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"The referral table {origin} cannot be read ({exc}); fix it or point BEACON_REFERRALS_FILE elsewhere.") from exc
        default = data.get("default", {})
        return cls(
            default_emergency=str(default.get("emergency", DEFAULT_EMERGENCY)),
            what_to_do=list(default.get("what_to_do", DEFAULT_STEPS)),
            countries={str(k).lower(): v for k, v in data.get("country", {}).items()},
        )

    def country_in(self, text: str) -> str | None:
        lowered = text.lower()
        for code, entry in self.countries.items():
            names = [entry.get("name", ""), *entry.get("aliases", [])]
            if any(name and re.search(rf"\b{re.escape(name.lower())}\b", lowered) for name in names):
                return code
        return None

    def card(self, text: str) -> Referral:
        code = self.country_in(text)
        entry = self.countries.get(code, {}) if code else {}
        return Referral(
            country=entry.get("name", "") if code else "",
            emergency=str(entry.get("emergency", self.default_emergency)),
            hotline=str(entry.get("hotline", "")),
            hotline_name=str(entry.get("hotline_name", "")),
            source_url=str(entry.get("source_url", "")),
            what_to_do=self.what_to_do,
        )


DEFAULT_STEPS = [
    "If you or someone else is in immediate danger, call the emergency number now.",
    "If you can, keep a copy or photo of your passport and contract, and note where you are.",
    "Contact a national anti-trafficking hotline or a trusted organisation; help is confidential.",
    "You are not to blame: victims should not be punished for what they were forced to do.",
]


def discloses_danger(question: str) -> bool:
    """Whether the question reports danger or exploitation happening to the asker or someone close."""
    text = " ".join(question.split())
    if ABOUT_TOPIC.search(text) and not re.search(r"\b(my|me|I)\b", text):
        return False
    if not PERSONAL.search(text):
        return False
    return any(p.search(text) for p in DANGER_RE)


def referral_for(question: str, table: ReferralTable) -> Referral | None:
    return table.card(question) if discloses_danger(question) else None


def format_referral(referral: Referral) -> str:
    """Plain-text card for the CLI and the chat."""
    lines = [f"If you are in danger now, call {referral.emergency}" + (f" ({referral.country})." if referral.country else " (EU-wide emergency number).")]
    if referral.hotline:
        lines.append(f"{referral.hotline_name or 'Anti-trafficking hotline'}: {referral.hotline}")
    lines += [f"- {step}" for step in referral.what_to_do]
    return "\n".join(lines)
