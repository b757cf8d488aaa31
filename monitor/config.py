"""Load and validate config.yaml. Every error names the key (or line) and the fix."""

from __future__ import annotations

import os
import re
import warnings
from datetime import time as dtime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.errors import ConfigError
from monitor.notify.addresses import check_address, check_sender
from monitor.review.roles import ROLE_NAMES
from monitor.store.backend import check_url, is_url

DEFAULT_CONFIG = "config.yaml"
ENV_CONFIG = "MISINFO_CONFIG"
BUNDLED_MODEL = "bundled:multilingual-e5-small"
BUNDLED_FALLBACK = "bundled:all-MiniLM-L6-v2"

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"  # the one place this default lives; stages get it from the config

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_INTERVAL = 30 * 86400.0  # sources[].interval: the scheduler's timers overflow on absurd values


def parse_duration(value: Any) -> float:
    """'30s', '15m', '1h', '1d' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 15m, 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"'{value}' is not a duration: write a number and a unit, e.g. 30s, 15m, 1h, 1d")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be more than zero")
    return seconds


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"'{value}' is not a time zone: use an IANA name such as {DEFAULT_TIMEZONE}"
        ) from None
    return value


# Every time-zone key (sources[].timezone, digest.timezone, web.timezone) is this type: an IANA name.
TimeZone = Annotated[str, AfterValidator(_check_timezone)]


class ConfigDeprecationWarning(FutureWarning):
    """A config key that still works but has moved; the message names the new key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


# --- sources -------------------------------------------------------------------------------------


class SourceBase(Strict):
    name: str = Field(min_length=1, description="Unique name of the source, shown in the queue and reports.")
    url: str = Field(description="Feed, API or start URL (http or https).")
    interval: float = Field(default=900.0, description="How often to collect, e.g. 30s, 15m, 1h.")
    enabled: bool = Field(default=True, description="false keeps the source configured but never collected.")
    timezone: TimeZone = Field(
        default=DEFAULT_TIMEZONE, description="Time zone assumed for published times that carry none."
    )
    ocr: bool = Field(
        default=False,
        description="Read the text in images attached to posts and feed enclosures (bounded by the ocr: section).",
    )

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> float:
        seconds = parse_duration(value)
        if seconds > MAX_INTERVAL:
            raise ValueError(f"'{value}' is longer than the longest interval, 30d")
        return seconds

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"'{value}' is not an http(s) URL: write it as https://host/path")
        return value


class RssSource(SourceBase):
    kind: Literal["rss"]
    full_text: bool = Field(
        default=False, description="When an entry only has a summary, fetch the article and extract its text."
    )


class PressSource(SourceBase):
    kind: Literal["press"]
    start_urls: list[str] = Field(
        default_factory=list, description="Section pages to start from (default: url)."
    )
    sitemap: str | None = Field(
        default=None, description="Sitemap URL to start from instead of section pages."
    )
    allow: list[str] = Field(
        default_factory=list, description="Regexes an article URL must match (default: any)."
    )
    max_pages: int = Field(default=200, ge=1, description="Stop a crawl after this many pages.")
    max_depth: int = Field(default=2, ge=0, description="How many links deep to follow from a start page.")
    crawl_timeout: float = Field(default=1800.0, gt=0, description="Stop a crawl after this many seconds.")


class MastodonSource(SourceBase):
    kind: Literal["mastodon"]


class BlueskySource(SourceBase):
    kind: Literal["bluesky"]


class RedditSource(SourceBase):
    kind: Literal["reddit"]


class TelegramSource(SourceBase):
    kind: Literal["telegram"]


class YoutubeSource(SourceBase):
    kind: Literal["youtube"]


SourceConfig = Annotated[
    RssSource | PressSource | MastodonSource | BlueskySource | RedditSource | TelegramSource | YoutubeSource,
    Field(discriminator="kind"),
]
SOURCE_KINDS = ("rss", "press", "mastodon", "bluesky", "reddit", "telegram", "youtube")


class CollectConfig(Strict):
    user_agent: str = Field(
        default="misinfo-monitor/0.1 (+mailto:press-office@example.gov.vn)",
        description="User-Agent sent with every request; include a contact address.",
    )
    contact: str = Field(default="press-office@example.gov.vn", description="Contact shown to site owners.")
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for a connection.")
    read_timeout: float = Field(default=30.0, gt=0, description="Seconds to wait for data.")
    max_bytes: int = Field(
        default=10_000_000, gt=0, description="Largest response body accepted (after decompression)."
    )
    max_redirects: int = Field(default=5, ge=0, description="Most redirects followed.")
    per_host_delay: float = Field(
        default=1.0, ge=0, description="Minimum seconds between two requests to one host."
    )
    retries: int = Field(
        default=2, ge=0, description="Retries after a failed fetch, with exponential backoff."
    )
    backoff: float = Field(default=2.0, gt=0, description="First retry wait in seconds; doubles each retry.")
    respect_robots: bool = Field(default=True, description="Obey robots.txt (keep true in production).")
    allow_private_hosts: bool = Field(
        default=False,
        description="Allow sources on loopback/private/non-public addresses (only for local fixtures and the demo).",
    )
    source_timeout: float = Field(
        default=300.0,
        description="Most time one pass over one source may take (e.g. 5m); a press crawl has its own crawl_timeout.",
    )

    min_interval: float = Field(
        default=30.0,
        description="Shortest sources[].interval accepted (e.g. 30s); shorter ones are refused at load time.",
    )

    @field_validator("source_timeout", "min_interval", mode="before")
    @classmethod
    def _source_timeout(cls, value: Any) -> float:
        return parse_duration(value)


class RetentionConfig(Strict):
    evidence: float = Field(
        default=180 * 86400.0,
        description="`misinfo prune` (and the daily prune job) delete fetched evidence copies older than this, e.g. 180d; items are kept.",
    )
    fetch_log: float = Field(
        default=90 * 86400.0,
        description="`misinfo prune` (and the daily prune job) delete fetch log rows older than this, e.g. 90d.",
    )

    @field_validator("evidence", "fetch_log", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


# --- distributed work (Celery on Redis) ---------------------------------------------------------------

BROKER_SCHEMES = ("redis", "rediss", "redis+socket")


class QueueConfig(Strict):
    broker: str = Field(
        description="Redis URL of the Celery broker, e.g. redis://127.0.0.1:6379/0 (rediss:// for TLS, "
        "redis+socket:///run/redis/redis.sock); also holds the per-host politeness timers, the per-source "
        "locks and beat's heartbeat. With a queue: section, `misinfo worker` and `misinfo beat` replace `misinfo run`.",
    )
    visibility_timeout: float = Field(
        default=3600.0,
        description="A task taken by a worker that died without acknowledging it is handed to another worker "
        "after this long, e.g. 1h; keep it longer than the longest task (a press crawl's crawl_timeout).",
    )
    lock_ttl: float = Field(
        default=60.0,
        description="Per-source collection lock: renewed while the pass runs, gone this long after a worker "
        "is killed, e.g. 60s.",
    )
    connect_timeout: float = Field(
        default=5.0, gt=0, le=300, description="Seconds to wait for Redis (start-up checks, status)."
    )

    @field_validator("visibility_timeout", "lock_ttl", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("broker")
    @classmethod
    def _broker(cls, value: str) -> str:
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme not in BROKER_SCHEMES:
            raise ValueError(
                f"'{value}' is not a Redis URL: write redis://HOST:6379/0 (or rediss://, redis+socket:///PATH)"
            )
        rest = value.split("://", 1)[1]
        if scheme != "redis+socket" and not rest.split("/", 1)[0].rsplit("@", 1)[-1]:
            raise ValueError(f"'{value}' has no host: write redis://HOST:6379/0")
        if scheme == "redis+socket" and not rest.startswith("/"):
            raise ValueError(f"'{value}' has no socket path: write redis+socket:///run/redis/redis.sock")
        return value


# --- topic and classifier -------------------------------------------------------------------------


class TopicConfig(Strict):
    name: str = Field(default="Monitored programme", description="Name of the monitored topic.")
    descriptions: dict[str, list[str]] = Field(
        default_factory=dict, description="Descriptions of the topic by language code (vi, en, ...)."
    )
    keywords: list[str] = Field(default_factory=list, description="Keywords that signal the topic.")


class Thresholds(Strict):
    relevance: float = Field(default=0.7, ge=0, le=1, description="Flag only items at least this on-topic.")
    risk: float = Field(
        default=0.5, ge=0, le=1, description="Flag only items at least this likely to be false."
    )
    library_min_model_risk: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="A library match flags an item unless the style model's risk is below this: a report "
        "that quotes a rumour to deny it matches the claim too, and the model reads it as accurate.",
    )
    narrative: float = Field(
        default=0.45,
        ge=0,
        le=1,
        description="Attach a flag to its nearest known claim's narrative from this similarity.",
    )


class ClassifierConfig(Strict):
    model: str = Field(
        default=BUNDLED_MODEL,
        description="Encoder: `bundled:multilingual-e5-small` (shipped, offline, multilingual), or a "
        "sentence-transformers model name in the local cache or a local folder (e.g. a larger multilingual E5, BGE-M3).",
    )
    fallback_model: str = Field(
        default=BUNDLED_FALLBACK,
        description="Used when `model` cannot be loaded; `bundled:all-MiniLM-L6-v2` (English only) is always the last resort.",
    )
    device: str = Field(
        default="cpu",
        description="Device for sentence-transformers models: cpu, cuda, cuda:1 (the bundled E5 always runs on the CPU).",
    )
    thresholds: Thresholds = Field(default_factory=Thresholds)
    batch_size: int = Field(default=32, ge=1, description="Texts encoded per batch.")
    threads: int = Field(default=0, ge=0, description="Torch CPU threads (0: let torch decide).")
    rescore_days: int = Field(
        default=7,
        ge=0,
        le=365,
        description="When the approved rebuttal library changes, unflagged items of this many recent days are re-checked against it.",
    )
    labelled_data: str = Field(
        default="data/labelled",
        description="Folder of labelled CSVs (text, lang, relevant, false_claim, narrative) `misinfo train` learns "
        "from, with its paraphrases/ sets (tab-separated text, rumour: novel rumours written several ways, which "
        "teach the risk model and the grouping's claim projection; data/labelled/README.md) and its vector pack.",
    )


class OcrConfig(Strict):
    languages: str = Field(
        default="vie+eng", description="Tesseract languages, joined with + (Debian: tesseract-ocr-vie, -eng)."
    )
    max_bytes: int = Field(
        default=10_000_000, ge=1000, description="Largest image read, in bytes (uploads and fetched images)."
    )
    max_pixels: int = Field(
        default=40_000_000,
        ge=10_000,
        description="Largest image read, in pixels (width x height); larger ones are refused as decompression bombs.",
    )
    max_images: int = Field(default=4, ge=0, le=20, description="Images read per collected post or entry.")
    timeout: float = Field(default=60.0, gt=0, description="Seconds one image may take in Tesseract.")


class IntakeConfig(Strict):
    max_text_chars: int = Field(
        default=50_000, ge=100, description="Longest pasted text accepted from `misinfo submit` and the page."
    )


class MatchConfig(Strict):
    top_k: int = Field(default=5, ge=1, le=50, description="Rebuttal suggestions kept per flagged item.")
    suggestion: float = Field(
        default=0.35,
        ge=0,
        le=1,
        description="Show a rebuttal suggestion from this score; an on-topic item whose best approved claim "
        "reaches it is flagged as restating that claim.",
    )


class GroupConfig(Strict):
    threshold: float = Field(
        default=0.15,
        ge=-1,
        le=1,
        description="Unanswered claims: a post joins a group when its average similarity to the group's posts "
        "(encoder vectors through the claim projection + folded lexical, weighted per pair of writing kinds "
        "— accented Vietnamese, unaccented Vietnamese, English — as learned from the labelled data) reaches "
        "this. Chosen for the bundled encoder on the paraphrase sets of data/labelled/paraphrases, each "
        "measured with a projection learned without it.",
    )
    english_threshold: float = Field(
        default=0.10,
        ge=-1,
        le=1,
        description="With the bundled encoder (a vector pack, so the writing kinds are calibrated), posts in "
        "English are placed after the Vietnamese ones: each joins the group of Vietnamese posts whose average "
        "similarity to it is highest when that reaches this (the same claim across languages scores lower); "
        "the English posts left over are grouped among themselves with group.threshold. Chosen with it on the "
        "paraphrase sets, cross-fitted.",
    )
    dense_weight: float = Field(
        default=0.85,
        ge=0,
        le=1,
        description="Share of the encoder's similarity in it (the rest: folded terms) for an encoder without "
        "a vector pack; with one (the bundled encoder), the shares are learned per pair of writing kinds and "
        "this one is not used.",
    )
    within_claim_alpha: float = Field(
        default=2.0,
        gt=0,
        le=1000,
        description="Claim projection's regularisation: how little the encoder vectors are whitened against the "
        "way paraphrases of one labelled narrative differ (small: strong whitening; large: almost only centring "
        "on the on-topic mean). Learned from the vector pack of classifier.labelled_data (its narratives and the "
        "novel rumours of its paraphrases/ sets); an encoder without a pack there is centred on the pool "
        "instead.",
    )
    accurate_floor: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Posts that the claim model learned with the projection (false claim vs accurate, on the "
        "on-topic labelled posts and the paraphrase sets) gives a probability of a false claim below this stay "
        "out of groups (0: none does). Chosen with group.threshold.",
    )
    regroup_max_items: int = Field(
        default=1000,
        ge=0,
        le=100000,
        description="After each arrival, average linkage is re-run over the open groups it touched and their "
        "neighbours, so early mistakes are undone (ids stay with the group keeping most of their members): over "
        "every open group while they hold at most this many posts, else over that many posts around the touched "
        "groups. 0: no re-clustering.",
    )
    min_size: int = Field(default=2, ge=1, le=1000, description="Show groups of at least this many posts.")
    days: int = Field(
        default=14, ge=1, le=365, description="Default look-back of the unanswered list, in days."
    )
    batch_size: int = Field(default=500, ge=10, le=10000, description="New posts placed per clustering step.")


# Keys that moved to match: (old path, new key); still read for one release, with a warning.
MOVED_KEYS: list[tuple[tuple[str, ...], str]] = [
    (("classifier", "top_k"), "top_k"),
    (("classifier", "thresholds", "suggestion"), "suggestion"),
]


def _move_deprecated_keys(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of the raw config with classifier.top_k / classifier.thresholds.suggestion moved to match:,
    warning for each one found."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    if isinstance(data.get("classifier"), dict) and isinstance(data["classifier"].get("thresholds"), dict):
        data["classifier"]["thresholds"] = dict(data["classifier"]["thresholds"])
    for path, new in MOVED_KEYS:
        parent: Any = data
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue
        old_key, new_key = ".".join(path), f"match.{new}"
        match = data.get("match")
        if match is None:
            match = data["match"] = {}
        if not isinstance(match, dict):
            continue  # match: is not a mapping; its own validation reports that
        if new in match:
            raise ValueError(f"{old_key} moved to {new_key}, which is also set — remove {old_key}")
        match[new] = parent.pop(path[-1])
        warnings.warn(
            f"config key {old_key} is deprecated: write it as {new_key} (the old key is read for one more release)",
            ConfigDeprecationWarning,
            stacklevel=2,
        )
    return data


# --- digest, mail, web -----------------------------------------------------------------------------


class Recipient(Strict):
    email: str = Field(description="Address the digest is sent to.")
    role: str = Field(
        default="coordinator",
        description="A user role (analyst, coordinator, approver, admin, manager): decides what the digest contains.",
    )
    language: Literal["vi", "en"] = Field(default="vi", description="Language of the digest.")

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if value not in ROLE_NAMES:
            raise ValueError(f"'{value}' is not a role: use one of {', '.join(ROLE_NAMES)}")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_address(value)  # syntax only (email-validator), never DNS


class DigestConfig(Strict):
    time: str = Field(default="07:30", description="Local time the daily digest is sent, HH:MM.")
    timezone: TimeZone = Field(
        default=DEFAULT_TIMEZONE, description="Time zone for the digest time and periods."
    )
    recipients: list[Recipient] = Field(default_factory=list)
    top_items: int = Field(default=10, ge=1, le=1000, description="Flagged items listed in each digest.")
    outbox: str = Field(
        default="var/outbox", description="Folder where --dry-run writes .eml and .html files."
    )
    surge_factor: float = Field(
        default=3.0, gt=1, description="Alert when volume exceeds baseline by this factor."
    )
    surge_min_items: int = Field(default=5, ge=1, description="Never alert on fewer flagged items than this.")

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        # Exactly H:MM or HH:MM (the scheduler splits on ':'); fromisoformat alone also takes '0730', 'T07'.
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
        try:
            if not match:
                raise ValueError
            return dtime(int(match.group(1)), int(match.group(2))).strftime("%H:%M")
        except ValueError:
            raise ValueError(f"'{value}' is not a time: write HH:MM, e.g. 07:30") from None


class SmtpConfig(Strict):
    host: str = Field(default="127.0.0.1", description="SMTP server host.")
    port: int = Field(default=25, ge=1, le=65535, description="SMTP server port.")
    security: Literal["none", "starttls", "ssl"] = Field(default="none", description="none, starttls or ssl.")
    username: str | None = Field(default=None, description="SMTP login; leave empty for no authentication.")
    password_env: str | None = Field(
        default=None, description="Environment variable holding the SMTP password."
    )
    sender: str = Field(default="misinfo-monitor@localhost", description="From address.")
    timeout: float = Field(
        default=20.0, gt=0, le=3600, description="Seconds before an SMTP connection attempt fails."
    )
    ca_file: str | None = Field(
        default=None,
        description="PEM file of the CA that signed the server certificate (private CA); default: system CAs.",
    )
    retries: int = Field(default=2, ge=0, description="Extra attempts within one run after a failed send.")
    retry_backoff: float = Field(
        default=60.0,
        le=6 * 3600,
        description="Wait before retrying a failed message on a later run, e.g. 1m; doubles per attempt (at most 6h).",
    )

    @field_validator("retry_backoff", mode="before")
    @classmethod
    def _backoff(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return check_sender(value)


class WebConfig(Strict):
    host: str = Field(default="127.0.0.1", description="Address the web app listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the web app listens on.")
    base_url: str = Field(default="http://127.0.0.1:8000", description="Public URL used in email links.")
    secret_key_env: str = Field(
        default="MISINFO_SECRET_KEY", description="Environment variable holding the session signing key."
    )
    secure_cookies: bool | None = Field(
        default=None,
        description="Mark cookies Secure; unset: true when base_url starts with https:// (set it to override).",
    )
    timezone: TimeZone = Field(default=DEFAULT_TIMEZONE, description="Time zone used to show times.")
    default_language: Literal["vi", "en"] = Field(
        default="vi", description="Interface language for new users."
    )
    workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Web server worker processes (`misinfo serve`, `misinfo run`); 0: one per CPU core.",
    )

    threads: int = Field(
        default=8,
        ge=1,
        le=200,
        description="Threads per web worker process for page and API work (database reads, templates).",
    )

    @property
    def worker_count(self) -> int:
        """web.workers, or the CPU cores this process may use when it is 0."""
        if self.workers:
            return self.workers
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)

    @property
    def cookies_secure(self) -> bool:
        """Whether the session cookie is Secure: web.secure_cookies when set, else base_url is https."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.base_url.lower().startswith("https://")

    def cookie_warnings(self) -> list[str]:
        """Why the explicit secure_cookies disagrees with base_url ([] when they agree or it is unset)."""
        https = self.base_url.lower().startswith("https://")
        if self.secure_cookies is False and https:
            return [
                f"web.secure_cookies is false but web.base_url ({self.base_url}) is https: session cookies "
                "would travel over plain HTTP too — remove the key (derived from base_url) or set it true"
            ]
        if self.secure_cookies is True and not https:
            return [
                f"web.secure_cookies is true but web.base_url ({self.base_url}) is not https: browsers drop "
                "Secure cookies over plain HTTP, so nobody can stay logged in — serve over https or remove the key"
            ]
        return []


class Config(Strict):
    database: str = Field(
        default="var/misinfo.db",
        description="SQLite database file (the default; one machine). Or a PostgreSQL 15+ server "
        "(postgresql://user[:password]@host[:port]/dbname) for workers and web replicas on several machines: "
        "the whole product runs on it (every migration has a PostgreSQL twin); `misinfo migrate --to URL` "
        "copies a SQLite store into an empty one (docs/deploy.md).",
    )
    state_dir: str = Field(default="var", description="Folder for runtime state: models, caches, logs.")
    sources: list[SourceConfig] = Field(default_factory=list)
    collect: CollectConfig = Field(default_factory=CollectConfig)
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="How long evidence copies and the fetch log are kept."
    )
    topic: TopicConfig = Field(default_factory=TopicConfig)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    match: MatchConfig = Field(default_factory=MatchConfig)
    group: GroupConfig = Field(
        default_factory=GroupConfig,
        description="Unanswered claims: grouping flagged posts no approved rebuttal answers.",
    )
    intake: IntakeConfig = Field(
        default_factory=IntakeConfig, description="Analysts' submissions: links, pasted text, screenshots."
    )
    ocr: OcrConfig = Field(default_factory=OcrConfig, description="Reading text in images with Tesseract.")
    digest: DigestConfig = Field(default_factory=DigestConfig)
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    queue: QueueConfig | None = Field(
        default=None,
        description="Distributed work with Celery on Redis (`misinfo worker`, `misinfo beat`); absent: one "
        "machine, `misinfo run`.",
    )

    # Where the file was loaded from; relative paths in the config are relative to its folder.
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        return _move_deprecated_keys(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _unique_sources(self) -> Config:
        seen: set[str] = set()
        for index, source in enumerate(self.sources):
            if source.name in seen:
                raise ValueError(
                    f"sources[{index}].name: '{source.name}' is used twice; give each source its own name"
                )
            seen.add(source.name)
        floor = self.collect.min_interval
        for index, source in enumerate(self.sources):
            if source.interval < floor:
                raise ValueError(
                    f"sources[{index}].interval: source '{source.name}' every {source.interval:g}s is below"
                    f" collect.min_interval ({floor:g}s) — collect it less often (e.g. 15m)"
                )
        return self

    def path(self, value: str) -> Path:
        """Resolve a path from the config relative to the config file's folder."""
        p = Path(value)
        return p if p.is_absolute() else (self.base_dir / p)

    @field_validator("database")
    @classmethod
    def _database_target(cls, value: str) -> str:
        if is_url(value):
            problem = check_url(value)
            if problem:
                raise ValueError(problem)
        elif not value.strip():
            raise ValueError("give a SQLite file path or a postgresql://user@host:5432/dbname URL")
        return value

    @property
    def database_path(self) -> Path | str:
        """The SQLite file (resolved against the config's folder), or the PostgreSQL URL as written."""
        if is_url(self.database):
            return self.database
        return self.path(self.database)

    @property
    def database_label(self) -> str:
        """The database for logs and messages: the file, or the URL with its password replaced by ***."""
        target = str(self.database_path)
        if not is_url(target):
            return target
        parts = urlsplit(target)
        if parts.password is None:
            return target
        return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()

    @property
    def state_path(self) -> Path:
        return self.path(self.state_dir)

    def secret(self, env_name: str | None) -> str | None:
        """Read a secret from the environment variable the config names."""
        return os.environ.get(env_name) if env_name else None


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in SOURCE_KINDS or str(part).startswith("function-"):
            continue  # discriminated-union tag, not a key the user wrote
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _format_error(err: Any) -> str:
    key = _loc(tuple(err["loc"]))
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key — remove it or check its spelling (see the configuration reference in README.md)"
    if kind == "missing":
        return f"{key}: required key is missing — add it"
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return f"{key}.kind: must be one of {', '.join(SOURCE_KINDS)}"
    msg = str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    if not err["loc"] and msg.startswith("sources["):
        return msg  # a check across keys that names its key itself
    got = err.get("input")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{key}: {msg} (got {got!r}) — fix the value's type"
    return f"{key}: {msg}"


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read, parse and validate the config file; raise ConfigError with a one-line message."""
    raw_path = path or os.environ.get(ENV_CONFIG) or DEFAULT_CONFIG
    cfg_path = Path(raw_path)
    if not cfg_path.exists():
        raise ConfigError(
            f"{cfg_path}: config file not found — create it (copy config.yaml from the project) "
            f"or pass --config PATH / set {ENV_CONFIG}"
        )
    try:
        text = cfg_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{cfg_path}: cannot read the file ({exc}) — check permissions and UTF-8 encoding"
        ) from None
    return parse_config(text, name=str(cfg_path), base_dir=cfg_path.resolve().parent)


def parse_config(text: str, name: str = "config.yaml", base_dir: Path | None = None) -> Config:
    """Validate YAML text as a Config."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(
            f"{name}:{where}: {problem} — fix the YAML syntax (indentation, quotes, colons)"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: the top level must be a mapping of keys (database:, sources:, ...)")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = _format_error(errors[0])
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ConfigError(f"{name}: {first}{more}") from None
    cfg.base_dir = base_dir or Path(".").resolve()
    return cfg


def iter_keys(model: type[BaseModel] = Config, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, description) for every config key, for docs and the docs test."""
    out: list[tuple[str, str]] = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = f"{prefix}{name}"
        out.append((key, field.description or ""))
        for sub in _models_of(field.annotation):
            for sub_key in iter_keys(sub, key + "."):
                if sub_key not in out:
                    out.append(sub_key)
    return out


def _models_of(annotation: Any) -> list[type[BaseModel]]:
    """Every pydantic model inside an annotation (list[X], X | Y, Annotated[...])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(m for m in _models_of(arg) if m not in found)
    return found
