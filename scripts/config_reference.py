"""Regenerate the configuration reference table in README.md from the pydantic models."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from monitor.config import Config, iter_keys

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"

SECTIONS = {
    "sources": "List of sources; each has the common keys plus the keys of its `kind`.",
    "sources.kind": "Connector: rss, press, mastodon, bluesky, reddit, telegram or youtube.",
    "collect": "Politeness and safety limits for every fetch.",
    "topic": "What the monitored topic is (used by the relevance classifier).",
    "classifier": "Encoder and detection thresholds.",
    "classifier.thresholds": "Scores from 0 to 1.",
    "match": "Rebuttal suggestions for flagged items (`classifier.top_k` and `classifier.thresholds.suggestion` "
    "still work for one release, with a warning naming the new key).",
    "intake": "Analysts' submissions (`misinfo submit`, the Report an item page, POST /api/submissions).",
    "ocr": "Reading text in images with Tesseract (screenshots, images of posts from sources with `ocr: true`).",
    "digest": "Daily digest and surge alerts.",
    "digest.recipients": "List of `{email, role, language}`.",
    "smtp": "Outgoing mail server.",
    "web": "The review web app.",
}


def default_of(key: str) -> str:
    """The default value of a dotted key, as YAML-ish text."""
    model: object = Config()
    for part in key.split("."):
        if isinstance(model, list) or model is None:
            return ""
        model = getattr(model, part, None)
    if isinstance(model, list | dict) and not model:
        return "empty"
    if isinstance(model, BaseModel):
        return ""
    return f"`{model}`" if model is not None else "—"


def table() -> str:
    """The markdown table of every key."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for key, desc in iter_keys():
        text = desc or SECTIONS.get(key, "")
        default = "" if key.startswith("sources.") else default_of(key)
        rows.append(f"| `{key}` | {default} | {text} |")
    return "\n".join(rows)


def main() -> None:
    text = README.read_text(encoding="utf-8")
    new = re.sub(
        re.escape(START) + ".*?" + re.escape(END),
        lambda _: f"{START}\n{table()}\n{END}",
        text,
        flags=re.S,
    )
    README.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
