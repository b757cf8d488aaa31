"""schema.org ClaimReview JSON-LD: read (a list, a single object, or an @graph) and write."""

from __future__ import annotations

import re
from typing import Any

from rebuttals.library import RowError, guess_language, stable_key

CONTEXT = "https://schema.org"
_KEY_SAFE = re.compile(r"[^a-z0-9._-]+")  # what a library key may contain (see rebuttals.library)


def is_claimreview(data: Any) -> bool:
    """True when the parsed JSON is one ClaimReview, a list of them, or an @graph holding them."""
    if isinstance(data, dict) and isinstance(data.get("@graph"), list):
        data = data["@graph"]
    items = data if isinstance(data, list) else [data]
    return bool(items) and all(isinstance(x, dict) and _type_of(x) == "ClaimReview" for x in items)


def _type_of(obj: dict[str, Any]) -> str:
    t = obj.get("@type")
    if isinstance(t, list):
        t = next((x for x in t if isinstance(x, str)), "")
    return str(t or "").rsplit("/", 1)[-1]


def _name(value: Any) -> str | None:
    """`author` may be text, {name}, or a list of either."""
    if isinstance(value, list):
        names = [n for n in (_name(v) for v in value) if n]
        return ", ".join(names) or None
    if isinstance(value, dict):
        return str(value.get("name") or "").strip() or None
    return str(value).strip() or None if value else None


def _claims(value: Any) -> list[str]:
    if isinstance(value, list):
        return [c for v in value for c in _claims(v)]
    if isinstance(value, dict):  # a Claim object
        text = value.get("text") or value.get("name") or value.get("claimReviewed")
        return [str(text).strip()] if text else []
    return [str(value).strip()] if value and str(value).strip() else []


def _key_from(url: str | None, title: str, claims: list[str]) -> str:
    if url:
        tail = _KEY_SAFE.sub("-", url.lower().split("://", 1)[-1]).strip("-.")[-70:].strip("-.")
        if tail:
            return "cr-" + tail
    return stable_key(title, [])


def parse(data: Any) -> list[dict[str, Any]]:
    """Rebuttal rows (library fields) from ClaimReview JSON-LD. Raises RowError naming the object and fix.

    Objects sharing an `identifier` (our export writes the rebuttal key there) or a `url` (one fact-check
    article reviewing several phrasings) become one rebuttal with several claims.
    """
    if isinstance(data, dict) and isinstance(data.get("@graph"), list):
        data = data["@graph"]
    items = data if isinstance(data, list) else [data]
    rows: list[dict[str, Any]] = []
    by_key: dict[str, dict[str, Any]] = {}
    for n, obj in enumerate(items, 1):
        if not isinstance(obj, dict) or _type_of(obj) != "ClaimReview":
            raise RowError(f'object {n}: @type is not ClaimReview — remove it or set "@type": "ClaimReview"')
        claims = _claims(obj.get("claimReviewed")) or _claims(obj.get("itemReviewed"))
        if not claims:
            raise RowError(f"object {n}: claimReviewed is missing — add the false claim's text")
        title = str(obj.get("headline") or obj.get("name") or "").strip() or claims[0][:200]
        raw_rating = obj.get("reviewRating")
        rating: dict[str, Any] = raw_rating if isinstance(raw_rating, dict) else {}
        url = str(obj.get("url") or "").strip() or None
        body = str(obj.get("reviewBody") or obj.get("description") or "").strip()
        lang = str(obj.get("inLanguage") or "").strip().lower()[:2] or guess_language(f"{title} {body}")
        ident = str(obj.get("identifier") or "").strip()
        key = ident if ident and _KEY_SAFE.sub("", ident) == ident else _key_from(url, title, claims)
        if key in by_key:
            by_key[key]["claims"].extend(c for c in claims if c not in by_key[key]["claims"])
            continue
        row = {
            "key": key,
            "title": title,
            "short_answer": str(obj.get("description") or "").strip()[:600] or body[:300],
            "body": body,
            "claims": claims,
            "verdict": str(rating.get("alternateName") or "").strip() or None,
            "url": url,
            "language": lang,
            "author": _name(obj.get("author")),
            "date_published": str(obj.get("datePublished") or "").strip() or None,
        }
        by_key[key] = row
        rows.append(row)
    return rows


def export(rebuttals: list[dict[str, Any]], publisher: str = "misinfo-monitor") -> list[dict[str, Any]]:
    """One ClaimReview object per (rebuttal, claim); rebuttals are store dicts with claims as dicts or text."""
    out: list[dict[str, Any]] = []
    for r in rebuttals:
        for claim in r.get("claims") or []:
            text = claim["text"] if isinstance(claim, dict) else str(claim)
            obj: dict[str, Any] = {
                "@context": CONTEXT,
                "@type": "ClaimReview",
                "claimReviewed": text,
                "headline": r["title"],
                "name": r["title"],
                "reviewBody": r.get("body") or r.get("short_answer") or "",
                "description": r.get("short_answer") or "",
                "inLanguage": r.get("language") or "vi",
                "reviewRating": {
                    "@type": "Rating",
                    "alternateName": r.get("verdict") or "Sai",
                    "ratingValue": 1,
                    "bestRating": 5,
                    "worstRating": 1,
                },
                "author": {"@type": "Organization", "name": r.get("author") or publisher},
                "itemReviewed": {"@type": "Claim", "text": text},
            }
            if r.get("key"):
                obj["identifier"] = r["key"]
            if r.get("url"):
                obj["url"] = r["url"]
            date = r.get("date_published") or r.get("approved_at")
            if date:
                obj["datePublished"] = str(date)[:10]
            out.append(obj)
    return out


def validate(objects: list[dict[str, Any]]) -> list[str]:
    """Problems that make an exported object invalid ClaimReview (empty list: valid)."""
    problems: list[str] = []
    for n, obj in enumerate(objects, 1):
        if obj.get("@context") != CONTEXT or obj.get("@type") != "ClaimReview":
            problems.append(f"object {n}: @context/@type must be schema.org ClaimReview")
        for name in ("claimReviewed", "reviewRating", "author"):
            if not obj.get(name):
                problems.append(f"object {n}: {name} is required")
        rating = obj.get("reviewRating") or {}
        if isinstance(rating, dict) and not rating.get("alternateName"):
            problems.append(f"object {n}: reviewRating.alternateName is required")
        if "url" in obj and not str(obj["url"]).startswith(("http://", "https://")):
            problems.append(f"object {n}: url must be an http(s) address")
    return problems
