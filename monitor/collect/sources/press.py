"""Press sites without usable feeds: a Scrapy crawl per pass, in a subprocess, items streamed back as JSON lines."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from monitor.collect.fetch import check_url, stopping, wait_stop
from monitor.collect.sources.base import SourceRun, make_item
from monitor.errors import FetchError
from monitor.store.collect import known_urls
from monitor.store.items import Evidence, NewItem

log = logging.getLogger(__name__)

KNOWN_LIMIT = 5000  # article URLs already stored that the crawl need not download again
CRAWL_GRACE = 60.0  # seconds past crawl_timeout before a crawl that did not stop itself is killed


def crawl_spec(run: SourceRun, known: list[str]) -> dict[str, object]:
    """Everything the child process needs, as JSON."""
    src, col = run.source, run.cfg.collect
    return {
        "url": src.url,
        "start_urls": src.start_urls or ([] if src.sitemap else [src.url]),
        "sitemap": src.sitemap,
        "allow": src.allow,
        "max_pages": src.max_pages,
        "max_depth": src.max_depth,
        "timeout": src.crawl_timeout,
        "user_agent": col.user_agent,
        "respect_robots": col.respect_robots,
        "per_host_delay": col.per_host_delay,
        "connect_timeout": col.connect_timeout,
        "read_timeout": col.read_timeout,
        "max_bytes": col.max_bytes,
        "max_redirects": col.max_redirects,
        "retries": col.retries,
        "known": known,
        "timezone": src.timezone,
    }


class PressConnector:
    """Runs `python -m monitor.collect.sources.press_crawl` and stores what it prints, one article at a time."""

    kind = "press"

    def items(self, run: SourceRun) -> Iterator[NewItem]:
        src = run.source
        for url in [src.url, *src.start_urls, *([src.sitemap] if src.sitemap else [])]:
            check_url(url, run.cfg.collect.allow_private_hosts)
        known = known_urls(run.db, run.source_id, KNOWN_LIMIT) if run.db is not None else []
        with tempfile.TemporaryDirectory(prefix="misinfo-crawl-") as tmp:
            spec_path = Path(tmp) / "spec.json"
            spec_path.write_text(json.dumps(crawl_spec(run, known)), encoding="utf-8")
            yield from self._crawl(run, spec_path, Path(tmp) / "stderr.log")

    def _crawl(self, run: SourceRun, spec_path: Path, err_path: Path) -> Iterator[NewItem]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with err_path.open("w+", encoding="utf-8") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "monitor.collect.sources.press_crawl", str(spec_path)],
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                text=True,
                encoding="utf-8",
            )
            killed: list[str] = []
            watchdog = threading.Thread(target=self._watch, args=(run, proc, killed), daemon=True)
            watchdog.start()
            summary: dict[str, Any] | None = None
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    if line.startswith('{"crawl_summary"'):
                        summary = self._summary(line)
                        continue
                    item = self._item(run, line)
                    if item is not None:
                        yield item
                rc = proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if killed:
                raise FetchError(f"{run.source.url}: {killed[0]}")
            if rc != 0:
                err.seek(0)
                tail = " | ".join(err.read().strip().splitlines()[-3:])
                raise FetchError(f"{run.source.url}: the crawl failed (exit {rc}): {tail[-400:]}")
            err.seek(0)
            problems = [ln for ln in err.read().splitlines() if " ERROR: " in ln]
            failures = list((summary or {}).get("failures") or [])
            if not summary or not summary.get("pages_ok"):
                # Nothing came through (closed port, HTTP errors, robots.txt, timeouts): a failed pass.
                why = failures[0] if failures else (problems[0][-200:] if problems else None)
                reason = (summary or {}).get("reason")
                raise FetchError(
                    f"{run.source.url}: the crawl fetched no page successfully"
                    + (f" ({why})" if why else "")
                    + (f"; crawl ended: {reason}" if reason and reason != "finished" else "")
                )
            if failures:
                count = int((summary or {}).get("failed") or len(failures))
                run.note(f"{count} page(s) could not be fetched, e.g. {failures[0][-200:]}")
            elif problems:
                run.note(f"crawl reported {len(problems)} error(s), e.g. {problems[0][-200:]}")

    @staticmethod
    def _watch(run: SourceRun, proc: subprocess.Popen[str], killed: list[str]) -> None:
        """Kill the crawl when the process stops, or when it outlives crawl_timeout by CRAWL_GRACE."""
        end = time.monotonic() + float(run.source.crawl_timeout) + CRAWL_GRACE
        while proc.poll() is None:
            if stopping():
                killed.append("stopped (the process is shutting down)")
            elif time.monotonic() >= end:
                killed.append(
                    f"the crawl outlived crawl_timeout ({run.source.crawl_timeout:g}s) and was ended"
                )
            if killed:
                proc.kill()
                return
            wait_stop(0.2)

    @staticmethod
    def _summary(line: str) -> dict[str, Any] | None:
        try:
            data = json.loads(line).get("crawl_summary")
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _item(self, run: SourceRun, line: str) -> NewItem | None:
        try:
            data = json.loads(line)
            body = base64.b64decode(data.pop("body_b64", "") or "")
        except (ValueError, TypeError) as exc:
            run.note(f"unreadable crawl output skipped ({exc})")
            return None
        run.nbytes += len(body)
        run.http_status = data.get("status")
        ev = Evidence(
            body=body,
            final_url=data.get("final_url"),
            http_status=data.get("status"),
            content_type=data.get("content_type"),
            fetched_at=None,
            kind="article",
        )
        return make_item(
            run,
            title=data.get("title") or "",
            text=data.get("text") or "",
            url=data.get("final_url") or data.get("url"),
            external_id=None,
            author=data.get("author"),
            published=data.get("published"),
            fetched_at=None,
            evidence=[ev],
            notes=[data["note"]] if data.get("note") else None,
        )
