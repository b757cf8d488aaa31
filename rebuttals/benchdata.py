"""Claim-retrieval benchmark files (CheckThat! 2A format): claims JSONL, queries TSV, TREC qrels."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

_URL = re.compile(r"(?:https?://|pic\.twitter\.com/|www\.)\S+", re.IGNORECASE)
_SIGNATURE_DATE = re.compile(
    r"\s*\)?\s*(January|February|March|April|May|June|July|August|September|October|November|December)"
    r"\s+\d{1,2},\s+\d{4}\s*$"
)
_SPACE = re.compile(r"\s+")
_EPOCH_ORDINAL = 719163  # date(1970, 1, 1).toordinal()
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_MDY = re.compile(rf"((?:{_MONTHS})\s+\d{{1,2}},\s+\d{{4}})")
_DMY = re.compile(rf"(\d{{1,2}}\s+(?:{_MONTHS})\s+\d{{4}})")


@dataclass(frozen=True)
class BenchClaim:
    """One verified claim of the collection."""

    claim_id: str
    text: str
    title: str
    subtitle: str = ""
    date: str = ""


def load_claims(path: Path) -> list[BenchClaim]:
    """Read a claims JSONL (`vclaim_id`, `vclaim`, `title`); lines that fail to parse raise ValueError."""
    out: list[BenchClaim] = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                out.append(
                    BenchClaim(
                        str(row["vclaim_id"]),
                        str(row.get("vclaim") or ""),
                        str(row.get("title") or ""),
                        str(row.get("subtitle") or ""),
                        str(row.get("date") or ""),
                    )
                )
            except (ValueError, KeyError) as exc:
                raise ValueError(f"{path}:{n}: not a claim line with vclaim_id/vclaim ({exc})") from None
    return out


def load_queries(path: Path) -> dict[str, str]:
    """Read `id<TAB>text` lines (no header) in file order."""
    out: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) >= 2 and row[0].strip():
                out[row[0].strip()] = "\t".join(row[1:])
    return out


def load_qrels(path: Path) -> dict[str, set[str]]:
    """Read TREC qrels `qid 0 docid rel`; keeps relevant (rel > 0) pairs."""
    out: dict[str, set[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[3] != "0" or len(parts) == 3:
            out.setdefault(parts[0], set()).add(parts[2])
    return out


def parse_day(text: str) -> float | None:
    """Day number (days since 1970-01-01) of 'January 28, 2021' or '28 January 2021' found in text."""
    from datetime import datetime

    for pattern, fmt in ((_MDY, "%B %d, %Y"), (_DMY, "%d %B %Y")):
        found = pattern.findall(text)
        if found:
            try:
                return float(datetime.strptime(found[-1], fmt).toordinal() - _EPOCH_ORDINAL)
            except ValueError:
                continue
    return None


def clean_query(text: str) -> str:
    """Strip links and the tweet signature's date so both channels see the words that carry the claim."""
    text = text.strip().strip('"').replace('""', '"')
    text = _URL.sub(" ", text)
    text = _SIGNATURE_DATE.sub("", text)
    text = text.replace("(@", "(").replace("—", " - ")
    return _SPACE.sub(" ", text).strip()
