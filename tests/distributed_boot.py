"""`python -m tests.distributed_boot --config FILE worker ...`: the misinfo CLI with the fake encoder
(tests/fakes.py) in place of the configured model, for the worker processes of the distributed tests (the
same stand-in the other pipeline tests hand to run_classify; the real model would take a minute to train)."""

from __future__ import annotations

import sys

from monitor.classify import encoder as shared
from monitor.cli import main
from monitor.config import load_config
from tests.fakes import HashingEncoder


def install_fake_encoder(config_path: str) -> None:
    """Make the process-wide encoder of this config the fake one (pool processes fork with it)."""
    c = load_config(config_path).classifier
    shared._encoders[(c.model, c.fallback_model, c.threads, c.device)] = (HashingEncoder(), None)


if __name__ == "__main__":
    install_fake_encoder(sys.argv[sys.argv.index("--config") + 1])
    sys.argv[0] = "misinfo"
    main()
