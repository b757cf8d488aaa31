"""A machine-wide cache of models trained from the labelled seed data alone.

A fresh installation trains its first model from the shipped seed data (~40 s on 2 cores). That model
depends only on the seed data, the topic, the encoder and the training code, so when the environment
variable MISINFO_MODEL_CACHE names a folder, the first such model is kept there and every later fresh
installation on the machine with the same inputs takes a copy instead of training again (the demo
workspace and the test suite's many throwaway installations do; `misinfo train` always trains).

An entry is keyed by a sha256 over everything training reads: every file of the labelled data folder,
the topic (descriptions, keywords), the encoder's model id, the source of the training code and the
versions of the libraries that pickle the model. Any change makes a new key; an entry that cannot be read
is ignored (and training runs as usual). Thresholds do not change a model: the copy's card gets the
installation's own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy
import scipy
import sklearn

import classifiers
from classifiers.train import ModelBundle, load_bundle

log = logging.getLogger(__name__)

ENV = "MISINFO_MODEL_CACHE"
# The code a seed-trained model depends on: the classifiers package and the training stage.
CODE = [
    *sorted(Path(classifiers.__file__).resolve().parent.glob("*.py")),
    Path(__file__).resolve().parent / "train.py",
]


def cache_root() -> Path | None:
    """The cache folder named by MISINFO_MODEL_CACHE, or None (no cache) when it is unset or empty."""
    value = os.environ.get(ENV, "").strip()
    return Path(value).expanduser() if value else None


def _digest_folder(h: Any, folder: Path) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode("utf-8") + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())


def seed_key(folder: Path, encoder_id: str, topic: dict[str, Any]) -> str:
    """The cache key of a model trained from `folder` alone with this encoder and topic."""
    h = hashlib.sha256()
    inputs = {
        "encoder": encoder_id,
        "topic": topic,
        "libraries": [platform.python_version(), numpy.__version__, scipy.__version__, sklearn.__version__],
    }
    h.update(json.dumps(inputs, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    for path in CODE:
        h.update(path.name.encode("utf-8") + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    _digest_folder(h, folder)
    return h.hexdigest()


def fetch(key: str) -> tuple[ModelBundle, Path] | None:
    """The cached bundle of `key` and its folder, or None (no cache, no entry, or an unreadable one)."""
    root = cache_root()
    if root is None:
        return None
    entry = root / key
    if not entry.is_dir():
        return None
    try:
        return load_bundle(entry), entry
    except Exception as exc:  # noqa: BLE001 — a broken cache entry only costs a training run
        log.warning("classifier: model cache entry %s cannot be read (%s); training instead", entry, exc)
        return None


def keep(key: str, model_folder: Path) -> Path | None:
    """Copy a freshly trained seed model's folder into the cache (atomically; a concurrent copy wins)."""
    root = cache_root()
    if root is None:
        return None
    entry = root / key
    if entry.is_dir():
        return entry
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=root))
        for name in os.listdir(model_folder):
            shutil.copy2(model_folder / name, tmp / name)
        try:
            tmp.rename(entry)
        except OSError:  # another process stored the same key meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        log.warning("classifier: could not keep the seed model in the model cache %s: %s", root, exc)
        return None
    return entry
