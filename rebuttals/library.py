"""Rebuttal records: field validation with fixes, import-file parsing (YAML/JSON/CSV), workflow rules."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from typing import Any

import yaml

STATUSES = ("draft", "approved", "retired")
EDIT_ROLES = frozenset({"coordinator", "approver", "admin"})
APPROVE_ROLES = frozenset({"approver", "admin"})
LANGUAGES = ("vi", "en")
CHANNELS = ("facebook", "zalo", "tiktok", "youtube", "website", "press", "sms", "radio", "tv", "other")
MEDIA_TYPES = ("infographic", "video", "podcast", "image", "article", "link")
LIST_FIELDS = ("claims", "evidence", "media", "channels")
TEXT_FIELDS = (
    "key",
    "title",
    "short_answer",
    "body",
    "language",
    "verdict",
    "url",
    "author",
    "date_published",
)
FIELDS = TEXT_FIELDS + LIST_FIELDS
_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_VI_MARKS = re.compile(r"[ăâđêôơưĂÂĐÊÔƠƯàáảãạèéẻẽẹìíỉĩịòóỏõọùúủũụỳýỷỹỵ]", re.IGNORECASE)

# Transitions allowed by action, from -> to. Editing an approved rebuttal sends it back to draft (see edit_status).
TRANSITIONS: dict[str, dict[str, str]] = {
    "approve": {"draft": "approved", "retired": "approved"},
    "retire": {"draft": "retired", "approved": "retired"},
}


class RowError(ValueError):
    """A rebuttal record is invalid; the message says which field and how to fix it."""


def can_edit(role: str) -> bool:
    """Coordinators, approvers and admins write rebuttals; analysts only read and link them."""
    return role in EDIT_ROLES


def can_approve(role: str) -> bool:
    """Only approvers (and admins) approve or retire."""
    return role in APPROVE_ROLES


def next_status(current: str, action: str) -> str:
    """Status after `action`, or RowError naming the allowed starting states."""
    allowed = TRANSITIONS.get(action, {})
    if current not in allowed:
        starts = ", ".join(sorted(allowed)) or "none"
        raise RowError(f"cannot {action} a rebuttal that is {current} (allowed from: {starts})")
    return allowed[current]


# Editing these alone keeps an approved rebuttal approved: they describe it, they are not what is said.
METADATA_FIELDS = frozenset({"key", "author", "date_published", "url", "verdict"})


def edit_status(current: str, changed: list[str] | None = None) -> str:
    """Editing an approved rebuttal's content returns it to draft: changed wording must be approved again."""
    if current == "approved" and (changed is None or set(changed) - METADATA_FIELDS):
        return "draft"
    return current


def guess_language(text: str, default: str = "vi") -> str:
    """'vi' when the text carries Vietnamese letters, 'en' when it is plain ASCII words, else default."""
    if _VI_MARKS.search(unicodedata.normalize("NFC", text)):
        return "vi"
    if text.isascii() and re.search(r"\b(the|is|are|will|must|and|of|to)\b", text.lower()):
        return "en"
    return default


def stable_key(title: str, claims: list[str]) -> str:
    """Key for records that bring none: a hash of the title and first claim, so re-imports match."""
    basis = unicodedata.normalize("NFC", f"{title.strip().lower()}\n{(claims or [''])[0].strip().lower()}")
    return "h-" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]


def _as_list(value: Any, field: str) -> list[Any]:
    """Accept a list, a JSON list, or text split on newlines / ' | ' (CSV cells)."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            try:
                parsed = json.loads(s)
            except ValueError:
                raise RowError(
                    f"{field}: not valid JSON — write a JSON list or separate values with ' | '"
                ) from None
            if isinstance(parsed, list):
                return parsed
        return [p.strip() for p in re.split(r"\n|\s\|\s", s) if p.strip()]
    raise RowError(f"{field}: expected a list, got {type(value).__name__} — write a list of values")


def _media(value: Any) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for entry in _as_list(value, "media"):
        if isinstance(entry, str):
            kind, _, url = (
                entry.partition(":") if re.match(r"^[a-z]+:\s*https?://", entry) else ("link", "", entry)
            )
            entry = {"type": kind.strip(), "url": url.strip()}
        if not isinstance(entry, dict) or not str(entry.get("url", "")).strip():
            raise RowError("media: each entry needs a url — write {type: infographic, url: https://...}")
        kind = str(entry.get("type") or "link").strip().lower()
        if kind not in MEDIA_TYPES:
            raise RowError(f"media: type '{kind}' is unknown — use one of {', '.join(MEDIA_TYPES)}")
        out.append({"type": kind, "url": str(entry["url"]).strip()})
    return out


def _urls(value: Any, field: str) -> list[str]:
    out = [str(v).strip() for v in _as_list(value, field) if str(v).strip()]
    for u in out:
        if not re.match(r"^https?://\S+$", u):
            raise RowError(f"{field}: '{u[:60]}' is not a link — write full http(s):// addresses")
    return out


def clean_fields(fields: dict[str, Any], partial: bool = False) -> dict[str, Any]:
    """Validate and normalise rebuttal fields; with partial=True only the given ones. Raises RowError."""
    unknown = sorted(set(fields) - set(FIELDS) - {"status", "id", "version"})
    if unknown:
        raise RowError(f"unknown field(s) {', '.join(unknown)} — use: {', '.join(FIELDS)}")
    out: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if name in fields:
            value = fields[name]
            out[name] = None if value is None else unicodedata.normalize("NFC", str(value)).strip()
    if not partial or "title" in fields:
        if not out.get("title"):
            raise RowError("title is missing — every rebuttal needs a title")
        if len(out["title"]) > 300:
            raise RowError("title is longer than 300 characters — shorten it")
    if out.get("short_answer") and len(out["short_answer"]) > 600:
        raise RowError("short_answer is longer than 600 characters — keep it to one or two sentences")
    if "language" in out or not partial:
        lang = (out.get("language") or "vi").lower()
        if lang not in LANGUAGES:
            raise RowError(f"language '{lang}' is not supported — use one of {', '.join(LANGUAGES)}")
        out["language"] = lang
    if out.get("key") is not None and out["key"] != "" and not _KEY.match(out["key"]):
        raise RowError(f"key '{out['key']}' is invalid — use lower-case letters, digits, '-', '_' or '.'")
    if out.get("url"):
        _urls(out["url"], "url")
    if "claims" in fields or not partial:
        claims: list[str] = []
        for c in _as_list(fields.get("claims"), "claims"):
            text = c.get("text") if isinstance(c, dict) else c
            text = unicodedata.normalize("NFC", str(text or "")).strip()
            if text and text not in claims:
                claims.append(text)
        if not claims:
            raise RowError("claims is empty — list at least one false claim this rebuttal refutes")
        out["claims"] = claims
    if "evidence" in fields:
        out["evidence"] = _urls(fields["evidence"], "evidence")
    if "media" in fields:
        out["media"] = _media(fields["media"])
    if "channels" in fields:
        chans = [str(c).strip().lower() for c in _as_list(fields["channels"], "channels") if str(c).strip()]
        bad = [c for c in chans if c not in CHANNELS]
        if bad:
            raise RowError(f"channels: '{bad[0]}' is unknown — use any of {', '.join(CHANNELS)}")
        out["channels"] = list(dict.fromkeys(chans))
    return out


def parse_file(name: str, data: bytes) -> list[dict[str, Any]]:
    """Raw rows of a YAML, JSON or CSV import (ClaimReview is detected by the caller). Raises RowError."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RowError("the file is not UTF-8 — save it as UTF-8 and import again") from None
    lower = name.lower()
    if lower.endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "title" not in reader.fieldnames:
            raise RowError("CSV header must include 'title' and 'claims' — add a header row")
        return [{k: v for k, v in row.items() if k and v not in (None, "")} for row in reader]
    try:
        parsed = json.loads(text) if lower.endswith((".json", ".jsonld")) else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise RowError(f"cannot parse the file: {str(exc).splitlines()[0]} — fix the syntax") from None
    if isinstance(parsed, dict) and isinstance(parsed.get("rebuttals"), list):
        parsed = parsed["rebuttals"]
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        raise RowError("expected a list of rebuttals (or {rebuttals: [...]}) — wrap the records in a list")
    for n, row in enumerate(parsed, 1):
        if not isinstance(row, dict):
            raise RowError(f"row {n}: expected a mapping of fields, got {type(row).__name__}")
    return parsed


def snapshot(record: dict[str, Any]) -> dict[str, Any]:
    """The fields a version keeps, in a stable form for diffs."""
    return {f: record.get(f) for f in FIELDS if f != "key"} | {"key": record.get("key")}


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Names of fields whose value differs."""
    return [f for f in FIELDS if f in after and before.get(f) != after.get(f)]
