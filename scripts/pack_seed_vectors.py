"""Write the vector pack of the labelled data (its CSVs and its paraphrase sets, data/labelled/paraphrases)
for the bundled encoder (run after editing data/labelled). Texts already in the pack keep their vectors; only
new ones are encoded. Then fit the grouping's claim projection on it (the config's group.within_claim_alpha and
group.dense_weight) and store it (data/labelled/projections/), so that a fresh install does not fit it.

Usage: .venv/bin/python scripts/pack_seed_vectors.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from classifiers.embed import DEFAULT_MODEL, make_encoder
from classifiers.text import text_hash
from classifiers.train import load_seed
from classifiers.vectorpack import pack_path, read_pack, write_pack
from monitor.config import GroupConfig
from monitor.group.projection import store

FOLDER = Path(__file__).resolve().parent.parent / "data" / "labelled"


def main() -> None:
    """Encode every labelled text the pack lacks with the bundled encoder and write the pack."""
    encoder = make_encoder(DEFAULT_MODEL)
    texts = list(dict.fromkeys(ex.text for ex in load_seed(FOLDER)))
    path = pack_path(FOLDER, encoder.model_id)
    hashes, packed = read_pack(path)
    row_of = {h: i for i, h in enumerate(hashes)}
    missing = [t for t in texts if text_hash(t) not in row_of]
    started = time.monotonic()
    fresh = encoder.encode(missing, batch_size=64) if missing else np.zeros((0, 0), np.float32)
    fresh_of = {t: i for i, t in enumerate(missing)}
    vectors = np.vstack(
        [packed[row_of[text_hash(t)]] if t not in fresh_of else fresh[fresh_of[t]] for t in texts]
    )
    write_pack(path, texts, vectors)
    print(f"{len(texts)} texts, {len(missing)} encoded in {time.monotonic() - started:.0f}s -> {path}")
    group = GroupConfig()
    started = time.monotonic()
    stored = store(FOLDER, encoder.model_id, group.within_claim_alpha, group.dense_weight)
    print(f"claim projection fitted in {time.monotonic() - started:.0f}s -> {stored}")


if __name__ == "__main__":
    main()
