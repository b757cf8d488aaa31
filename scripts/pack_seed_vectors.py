"""Write the vector pack of the labelled data for the bundled encoder (run after editing data/labelled).

Usage: .venv/bin/python scripts/pack_seed_vectors.py
"""

from __future__ import annotations

import time
from pathlib import Path

from classifiers.embed import DEFAULT_MODEL, make_encoder
from classifiers.train import load_seed
from classifiers.vectorpack import pack_path, write_pack

FOLDER = Path(__file__).resolve().parent.parent / "data" / "labelled"


def main() -> None:
    """Encode every labelled text with the bundled encoder and write the pack."""
    encoder = make_encoder(DEFAULT_MODEL)
    texts = list(dict.fromkeys(ex.text for ex in load_seed(FOLDER)))
    started = time.monotonic()
    vectors = encoder.encode(texts, batch_size=64)
    path = pack_path(FOLDER, encoder.model_id)
    write_pack(path, texts, vectors)
    print(f"{len(texts)} texts encoded in {time.monotonic() - started:.0f}s -> {path}")


if __name__ == "__main__":
    main()
