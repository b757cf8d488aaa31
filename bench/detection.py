"""Detection quality as a new user meets it: the repository's default config, the starter library
approved, the model trained from data/labelled, then a labelled set of posts scored by the production
scorer (flag rates per category) and matched by the production matcher (MAP@5, P@1 by language).

Usage: .venv/bin/python -m bench.detection --set data/eval/detection_eval.tsv [--no-record]

Use a development set (data/dev/) to choose thresholds; report on the evaluation set (data/eval/),
which is written apart from the training data and never used to choose anything.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml

from bench._record import record
from monitor.classify.evaluate import evaluate_set
from monitor.classify.train import train_models
from monitor.config import load_config
from monitor.library.io import import_file
from monitor.store import connect

REPO = Path(__file__).resolve().parent.parent


def workspace(tmp: Path, overrides: dict[str, object]) -> tuple[object, object]:
    """The repository's config.yaml pointed at a fresh database under tmp (sources left out)."""
    raw = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    raw["database"] = str(tmp / "detection.db")
    raw["state_dir"] = str(tmp / "var")
    raw["sources"] = []
    raw["classifier"]["labelled_data"] = str(REPO / "data" / "labelled")
    for dotted, value in overrides.items():
        node = raw
        *path, last = dotted.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    cfg_path = tmp / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    cfg = load_config(cfg_path)
    return cfg, connect(cfg.database_path)


def main() -> None:
    """Run and record."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--set", dest="path", default=str(REPO / "data" / "eval" / "detection_eval.tsv"))
    parser.add_argument(
        "--set-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Override a config key for this run, e.g. classifier.thresholds.risk=0.6",
    )
    parser.add_argument("--no-record", action="store_true", help="Print only.")
    args = parser.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.set_option)}
    with tempfile.TemporaryDirectory(prefix="misinfo-detection-") as tmp:
        cfg, db = workspace(Path(tmp), overrides)
        import_file(
            db,
            REPO / "data" / "rebuttals" / "starter.yaml",  # type: ignore[arg-type]
            approver={"id": None, "username": "bench", "role": "admin"},
        )
        started = time.monotonic()
        train_models(cfg, db, force=True, cross_validate=False)  # type: ignore[arg-type]
        trained = time.monotonic() - started
        result = evaluate_set(cfg, db, Path(args.path))  # type: ignore[arg-type]
    cats = result["categories"]
    m = result["matching"]
    figures: dict[str, object] = {
        "set": Path(args.path).name,
        "posts": result["n"],
        "encoder": result["encoder"],
        "thresholds": json.dumps(result["thresholds"]),
        "flagged per category": ", ".join(
            f"{k} {v['flagged']}/{v['n']} ({v['rate']:.0%})" for k, v in cats.items()
        ),
        "false posts flagged": result["false_flagged"],
        "other posts flagged": result["others_flagged"],
        "matching MAP@5 / P@1 / MRR (all)": f"{m['map@5']:.3f} / {m['p@1']:.3f} / {m['mrr']:.3f} (n={m['n']})",
    }
    for key, sub in m.items():
        if key.startswith("by_lang."):
            figures[f"matching MAP@5 / P@1 ({key[8:]})"] = (
                f"{sub['map@5']:.3f} / {sub['p@1']:.3f} (n={sub['n']})"
            )
    figures["training seconds"] = round(trained, 1)
    if args.no_record:
        print(json.dumps(figures, indent=1, ensure_ascii=False))
    else:
        record("Detection on labelled posts (default config, starter library)", figures)


if __name__ == "__main__":
    main()
