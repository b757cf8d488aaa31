"""Helpers for rebuttal/matcher tests: users, a small library, flagged items."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from monitor.review import library as review
from monitor.store.db import utcnow
from monitor.store.items import NewItem, add_item
from monitor.store.users import create_user, get_user
from tests.builders import add_flag


def users(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    """One user per role, keyed by role."""
    out = {}
    for role in ("analyst", "coordinator", "approver", "admin"):
        if get_user(db, role) is None:
            create_user(db, role, "password-123", role)
        out[role] = get_user(db, role)
    return out


CCCD = {
    "key": "cccd-merger",
    "title": "Sáp nhập không buộc làm lại căn cước",
    "short_answer": "Sai. Thẻ đã cấp vẫn có giá trị.",
    "body": "Theo quy định hiện hành, thẻ căn cước vẫn có giá trị.",
    "claims": [
        "Sau sáp nhập tỉnh phải làm lại căn cước công dân gắn chip",
        "Everyone must redo their ID card",
    ],
    "evidence": ["https://example.gov.vn/cccd"],
    "media": [{"type": "infographic", "url": "https://example.gov.vn/cccd.png"}],
    "channels": ["facebook", "zalo"],
}
CASH = {
    "key": "cash-ban",
    "title": "Không cấm tiền mặt",
    "short_answer": "Sai. Tiền mặt vẫn hợp pháp.",
    "claims": ["Nhà nước sắp cấm dùng tiền mặt, mọi giao dịch phải chuyển khoản"],
}


def approved(db: sqlite_utils.Database, fields: dict[str, Any]) -> int:
    """Create and approve a rebuttal; return its id."""
    u = users(db)
    rid = review.create_rebuttal(db, fields, u["coordinator"])
    review.approve_rebuttal(db, rid, u["approver"])
    return rid


def flagged_item(db: sqlite_utils.Database, title: str, text: str) -> int:
    """An item with a flag row (the classifier's job in production)."""
    item_id, _ = add_item(db, NewItem(title=title, text=text, url=f"https://news.example/{abs(hash(text))}"))
    add_flag(db, item_id, flagged_at=utcnow(), risk=0.9, relevance=0.9)
    return item_id
