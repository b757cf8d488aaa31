"""The demo workspace: its config.yaml (sources on the local fixture server), state file and reset."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import yaml

import monitor
from monitor.config import DEFAULT_TIMEZONE, ClassifierConfig, PressSource, load_config
from monitor.errors import MonitorError, UsageError
from monitor.store import connect

REPO_ROOT = Path(monitor.__file__).resolve().parent.parent
SAMPLES = REPO_ROOT / "data" / "samples"
STARTER_REBUTTALS = REPO_ROOT / "data" / "rebuttals" / "starter.yaml"
STATE_FILE = ".demo-state.json"
SECRET_ENV = "MISINFO_DEMO_SECRET_KEY"

# Known demo logins, printed at the end of `misinfo demo` (a demo database only: never reuse them).
DEMO_USERS = [
    ("admin", "demo-admin-2026", "admin", "admin@example.gov.vn", "vi"),
    ("coordinator", "demo-coordinator-2026", "coordinator", "dieu-phoi@example.gov.vn", "vi"),
    ("approver", "demo-approver-2026", "approver", "phe-duyet@example.gov.vn", "vi"),
    ("analyst", "demo-analyst-2026", "analyst", "analyst@example.gov.vn", "en"),
]
RECIPIENTS = [
    {"email": "lanh-dao@example.gov.vn", "role": "manager", "language": "vi"},
    {"email": "dieu-phoi@example.gov.vn", "role": "coordinator", "language": "vi"},
    {"email": "analyst@example.gov.vn", "role": "analyst", "language": "en"},
]


# --- workspace --------------------------------------------------------------------------------------


def default_workspace() -> Path:
    """demo-workspace/ in the repository root (git-ignored), else in the current folder."""
    root = REPO_ROOT if (REPO_ROOT / "data" / "samples").is_dir() else Path.cwd()
    return root / "demo-workspace"


def demo_sources(base: str) -> list[dict[str, Any]]:
    """One or more sources per connector kind, all on the local fixture server."""
    return [
        {
            "name": "Báo Thời sự Mẫu (RSS)",
            "kind": "rss",
            "url": f"{base}/rss/thoisu-mau.rss",
            "interval": "15m",
        },
        {
            "name": "Diễn đàn Tin Nóng 24h (RSS)",
            "kind": "rss",
            "url": f"{base}/rss/tinnong24h.rss",
            "interval": "15m",
        },
        {
            "name": "Vietnam Policy Wire (RSS)",
            "kind": "rss",
            "url": f"{base}/rss/policy-wire-en.rss",
            "interval": "15m",
        },
        {
            "name": "Góc nhìn Số (Atom)",
            "kind": "rss",
            "url": f"{base}/atom/gocnhinso.atom",
            "interval": "30m",
        },
        {
            "name": "Cổng Tin Địa phương Mẫu (press)",
            "kind": "press",
            "url": f"{base}/press/thoi-su/",
            # The sitemap lists the articles and one page robots.txt disallows (it must never be stored).
            "sitemap": f"{base}/press/sitemap.xml",
            "allow": [r"/press/(thoi-su/\d{4}|noi-bo)/"],
            "max_pages": 30,
            "max_depth": 1,
            "interval": "1h",
        },
        {
            "name": "Mastodon #sapnhap",
            "kind": "mastodon",
            "url": f"{base}/api/v1/timelines/tag/sapnhap?limit=40",
        },
        {
            "name": "Bluesky tinnhanh",
            "kind": "bluesky",
            "url": f"{base}/xrpc/app.bsky.feed.getAuthorFeed?actor=tinnhanh.example.social&limit=50",
        },
        {"name": "Reddit r/VietNam", "kind": "reddit", "url": f"{base}/r/VietNam/new.json?limit=50"},
        {"name": "Telegram Tin Nhanh Sáp Nhập", "kind": "telegram", "url": f"{base}/s/tinnhanhsapnhap"},
        {
            "name": "YouTube Kênh Thời Sự Mẫu",
            "kind": "youtube",
            "url": f"{base}/feeds/videos.xml?channel_id=UCdemoKenhThoiSu00000000",
        },
    ]


def _project_topic() -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
    """The topic, thresholds and match settings of the project's config.yaml, when it exists and is valid."""
    path = REPO_ROOT / "config.yaml"
    if not path.is_file():
        return None, None, None
    try:
        cfg = load_config(path)
    except MonitorError:
        return None, None, None
    topic = cfg.topic.model_dump() if cfg.topic.descriptions or cfg.topic.keywords else None
    return topic, cfg.classifier.thresholds.model_dump(), cfg.match.model_dump()


DEMO_TOPIC = {
    "name": "Sắp xếp bộ máy và chuyển đổi số quốc gia",
    "descriptions": {
        "vi": [
            "Sắp xếp tổ chức bộ máy hệ thống chính trị: sáp nhập bộ, sáp nhập tỉnh, xã, bỏ cấp huyện, "
            "chính quyền địa phương hai cấp, tinh giản biên chế, chế độ cho cán bộ nghỉ việc.",
            "Chuyển đổi số quốc gia: dịch vụ công trực tuyến, định danh điện tử VNeID, căn cước gắn chip, "
            "cơ sở dữ liệu quốc gia về dân cư, thanh toán không dùng tiền mặt.",
        ],
        "en": [
            "Restructuring of Vietnam's political system: merging ministries and provinces, abolishing the "
            "district level, two-tier local government, staff downsizing and severance.",
            "Vietnam's national digital transformation: online public services, VNeID e-identity, chip ID "
            "cards, the population database, cashless payments.",
        ],
    },
    "keywords": [
        "sáp nhập",
        "cấp huyện",
        "tinh giản",
        "VNeID",
        "căn cước",
        "CCCD",
        "dịch vụ công",
        "tiền mặt",
    ],
}


def demo_config(base: str, smtp_port: int, web_port: int) -> dict[str, Any]:
    """The demo workspace's config.yaml as a dict (paths relative to the workspace)."""
    topic, thresholds, match = _project_topic()

    # The bundled default encoder (multilingual E5), as a new install runs it.
    classifier: dict[str, Any] = {}
    if thresholds:
        classifier["thresholds"] = thresholds
    if "labelled_data" in ClassifierConfig.model_fields:
        # The seed data lives in the project, not in the workspace the config is relative to.
        classifier["labelled_data"] = str(REPO_ROOT / "data" / "labelled")
    sources = demo_sources(base)
    if "crawl_timeout" in PressSource.model_fields:
        for src in sources:
            if src["kind"] == "press":
                src["crawl_timeout"] = 120
    return {
        "database": "misinfo.db",
        "state_dir": "var",
        "sources": sources,
        "collect": {
            "respect_robots": True,
            "allow_private_hosts": True,
            "per_host_delay": 0,
            "retries": 0,
            "connect_timeout": 5,
            "read_timeout": 20,
        },
        "topic": topic or DEMO_TOPIC,
        "classifier": classifier,
        "match": match or {},
        "digest": {"recipients": RECIPIENTS, "outbox": "outbox", "timezone": DEFAULT_TIMEZONE},
        "smtp": {
            "host": "127.0.0.1",
            "port": smtp_port,
            "security": "none",
            "sender": "misinfo-demo@example.gov.vn",
        },
        "web": {
            "host": "127.0.0.1",
            "port": web_port,
            "base_url": f"http://127.0.0.1:{web_port}",
            "secret_key_env": SECRET_ENV,
        },
    }


def read_state(workspace: Path) -> dict[str, Any]:
    """The workspace's demo state (what was built, the fixture port), or {}."""
    try:
        return dict(json.loads((workspace / STATE_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def is_complete(workspace: Path) -> bool:
    """True when a previous run built this workspace to the end (its database can be served as is)."""
    return bool(read_state(workspace).get("complete")) and (workspace / "misinfo.db").is_file()


def reset_workspace(workspace: Path) -> None:
    """Delete a demo workspace (refusing anything that does not look like one)."""
    workspace = workspace.resolve()
    if not workspace.exists():
        return
    if workspace == REPO_ROOT or workspace in REPO_ROOT.parents or workspace == Path.home():
        raise UsageError(f"refusing to delete {workspace}: choose a dedicated --workspace folder")
    markers = (STATE_FILE, "config.yaml", "misinfo.db")
    if any(workspace.iterdir()) and not any((workspace / m).exists() for m in markers):
        raise UsageError(f"{workspace} is not empty and is not a demo workspace: choose another --workspace")
    shutil.rmtree(workspace)


def prepare_workspace(
    path: Path | None = None,
    *,
    base_url: str = "http://127.0.0.1:0",
    smtp_port: int = 25,
    web_port: int = 8000,
    fresh: bool = False,
) -> Path:
    """Create (or, with `fresh`, recreate) a demo workspace and write its config.yaml; return the folder."""
    workspace = (path or default_workspace()).resolve()
    if fresh:
        reset_workspace(workspace)
    (workspace / "mail").mkdir(parents=True, exist_ok=True)
    cfg = demo_config(base_url, smtp_port, web_port)
    text = "# Written by `misinfo demo` on every run: edits here are overwritten.\n" + yaml.safe_dump(
        cfg, allow_unicode=True, sort_keys=False
    )
    (workspace / "config.yaml").write_text(text, encoding="utf-8")
    key_file = workspace / "var" / "demo_secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(48), encoding="utf-8")
    os.environ[SECRET_ENV] = key_file.read_text(encoding="utf-8").strip()
    # The demo is offline: never let a library try the model hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    return workspace


def open_workspace(workspace: Path) -> tuple[Any, Any]:
    """The workspace's validated config and its (migrated) database."""
    cfg = load_config(workspace / "config.yaml")
    return cfg, connect(cfg.database_path)


def write_state(workspace: Path, **values: Any) -> None:
    """Merge values into the workspace's state file."""
    state = read_state(workspace)
    state.update(values)
    (workspace / STATE_FILE).write_text(json.dumps(state, ensure_ascii=False, indent=2), encoding="utf-8")
