"""`misinfo classify`, `misinfo train`, `misinfo eval` and `misinfo bench classify`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click

from monitor.cli.context import app
from monitor.errors import ImportFileError, UsageError


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the run's figures as one JSON object.")
@click.pass_context
def classify(ctx: click.Context, as_json: bool) -> None:
    """Score every item not yet scored by the active model; flag those above the thresholds.

    Incremental and safe to re-run: items already scored by the active model version are skipped.
    Trains a first model from the seed data if none exists yet.

    \b
    Example:
      misinfo classify
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from monitor import pipeline  # lazy: the stages pull scikit-learn/scipy (~2 s); --help stays fast

    a = app(ctx)
    cfg, db = a.config, a.db
    console = Console(stderr=True)
    with Progress(
        TextColumn("classifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=as_json or not console.is_terminal,
    ) as bar:
        task = bar.add_task("classify", total=None)

        def on_progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = pipeline.classify(cfg, db, progress=on_progress)
    if report.fallback_reason:
        click.echo(f"warning: {report.fallback_reason}", err=True)
    if as_json:
        click.echo(json.dumps(report.__dict__, ensure_ascii=False))
        return
    click.echo(report.summary())


@click.command()
@click.option(
    "--force", is_flag=True, help="Activate the new model even if it is worse on held-out decisions."
)
@click.option("--no-cv", is_flag=True, help="Skip cross-validated metrics in the model card (faster).")
@click.option("--json", "as_json", is_flag=True, help="Print the model card as JSON.")
@click.pass_context
def train(ctx: click.Context, force: bool, no_cv: bool, as_json: bool) -> None:
    """Retrain relevance and risk from the labelled data plus analysts' decisions.

    The new model is saved under state_dir/models/<version>/ with a model card (card.json) and becomes
    active only if it is not worse than the current one on held-out decisions.

    \b
    Example:
      misinfo train
      misinfo train --force
    """
    from monitor.classify.train import train_models  # lazy: scikit-learn/scipy (~2 s); --help stays fast

    a = app(ctx)

    def step(msg: str) -> None:
        if not as_json:
            click.echo(f"  {msg}", err=True)

    report = train_models(a.config, a.db, step, force=force, cross_validate=not no_cv)
    if as_json:
        click.echo(json.dumps(report.card, ensure_ascii=False, indent=2))
        return
    click.echo(report.message)
    for name, m in report.card.get("metrics", {}).get("cross_validated", {}).items():
        click.echo(
            f"  {name:<10} precision {m['precision']:.3f}  recall {m['recall']:.3f}  F1 {m['f1']:.3f}  (cross-validated, n={m['n']})"
        )


@click.command(name="eval")
@click.option(
    "--out",
    "out_png",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to save the precision-recall curve PNG (default: state_dir/reports/pr-curve.png).",
)
@click.option(
    "--set",
    "set_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A labelled TSV of posts (text, category, lang, gold): print flag rates per category instead.",
)
@click.option("--json", "as_json", is_flag=True, help="Print all figures as one JSON object.")
@click.pass_context
def eval_(ctx: click.Context, out_png: str | None, set_path: str | None, as_json: bool) -> None:
    """Precision, recall and F1 at the configured thresholds, and a precision-recall curve PNG.

    Figures are cross-validated on the labelled data (plus decisions), and measured for the active
    model on held-out analysts' decisions when there are any. With --set, a labelled set of posts is
    scored by the production scorer instead (nothing stored): the share flagged in each category, and
    how well the approved library answers the posts whose gold rebuttal key is given. Categories
    starting with `false` should be flagged; the others should not.

    \b
    Example:
      misinfo eval --out pr.png
      misinfo eval --set data/eval/detection_eval.tsv
    """
    from monitor.classify.train import evaluate_models  # lazy: scikit-learn/scipy (~2 s); --help stays fast

    a = app(ctx)
    cfg = a.config
    if set_path is not None:
        from monitor.classify.evaluate import evaluate_set  # lazy: scikit-learn/scipy; --help stays fast

        figures = evaluate_set(cfg, a.db, Path(set_path))
        if as_json:
            click.echo(json.dumps(figures, ensure_ascii=False, indent=2))
            return
        click.echo(f"{figures['n']} posts, encoder {figures['encoder']}, model {figures['model_version']}")
        for name, c in figures["categories"].items():
            want = "should be flagged" if name.startswith("false") else "should not be"
            click.echo(f"  {name:<22} flagged {c['flagged']:>4}/{c['n']:<4} {c['rate']:7.1%}   ({want})")
        m = figures["matching"]
        if m["n"]:
            click.echo(
                f"  matching: MAP@5 {m['map@5']:.3f}  P@1 {m['p@1']:.3f}  MRR {m['mrr']:.3f}  n={m['n']}"
            )
        if m.get("unknown_gold_keys"):
            click.echo(f"  warning: gold keys not in the library: {', '.join(m['unknown_gold_keys'])}")
        return
    png = Path(out_png) if out_png else cfg.state_path / "reports" / "pr-curve.png"
    result = evaluate_models(cfg, a.db, png)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    click.echo(
        f"Active model {result['active_version']} on {result['encoder']}; {result['n_examples']} labelled examples"
    )
    for scope in ("cross_validated", "held_out_decisions"):
        for name, m in result.get(scope, {}).items():
            if isinstance(m, dict):
                click.echo(
                    f"  {scope:<19} {name:<10} threshold {m['threshold']:.2f}  precision {m['precision']:.3f}  "
                    f"recall {m['recall']:.3f}  F1 {m['f1']:.3f}  n={m['n']}"
                )
    click.echo(f"Precision-recall curve: {result['png']}")


@click.command(name="library")
@click.option(
    "--library",
    "library_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A rebuttal library in any import format (YAML, JSON, CSV, ClaimReview JSON-LD).",
)
@click.option(
    "--posts",
    "posts_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Labelled posts: text<TAB>gold rebuttal key (empty: answered by none).",
)
@click.option("--json", "as_json", is_flag=True, help="Print figures; the last line is one JSON object.")
@click.pass_context
def bench_library(ctx: click.Context, library_path: str, posts_path: str, as_json: bool) -> None:
    """How well a rebuttal library answers labelled posts, through the production matching path.

    The library is imported (approved) into a throw-away database and each post is matched with the
    configured encoder: MAP@5, P@1 and MRR over the posts that have a gold key, and by language when
    the file has a `lang` column. Your own database is not touched.

    \b
    Example:
      misinfo bench library --library data/rebuttals/starter.yaml --posts posts.tsv --json
    """
    from monitor.classify.evaluate import bench_library as run  # lazy: scikit-learn/scipy; --help stays fast

    cfg = app(ctx).config
    figures = run(cfg, Path(library_path), Path(posts_path))
    if figures.get("encoder_warning"):
        click.echo(f"warning: {figures['encoder_warning']}", err=True)
    if figures.get("unknown_gold_keys"):
        click.echo(
            f"warning: gold keys not in the library: {', '.join(figures['unknown_gold_keys'])}", err=True
        )
    click.echo(
        f"{figures['posts']} posts against {figures['rebuttals']} rebuttals ({figures['claims']} claims), "
        f"encoder {figures['encoder']}",
        err=as_json,
    )
    for name in ("map@5", "p@1", "mrr"):
        click.echo(f"{name.upper():>6}: {figures[name]:.4f}", err=as_json)
    click.echo(f"     n: {figures['n']}", err=as_json)
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False, sort_keys=True))


def read_labelled_csv(path: str, text_col: str, label_col: str, positive: str) -> tuple[list[str], list[int]]:
    """Texts and 0/1 labels from a CSV; errors name the file, the row and the fix."""
    csv.field_size_limit(10_000_000)
    texts: list[str] = []
    labels: list[int] = []
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            cols = reader.fieldnames or []
            for col in (text_col, label_col):
                if col not in cols:
                    raise ImportFileError(
                        f"{path}: no column '{col}' (columns: {', '.join(cols)}) — pass --text-col/--label-col"
                    )
            for row in reader:
                texts.append(row[text_col] or "")
                labels.append(int((row[label_col] or "").strip() == positive))
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read ({exc})") from None
    except UnicodeDecodeError:
        raise ImportFileError(f"{path}: not UTF-8 — convert the file to UTF-8") from None
    if not texts:
        raise ImportFileError(f"{path}: no rows")
    return texts, labels


@click.command(name="classify")
@click.option(
    "--train",
    "train_csv",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Training CSV (repeatable).",
)
@click.option(
    "--test", "test_csv", required=True, type=click.Path(exists=True, dir_okay=False), help="Test CSV."
)
@click.option("--text-col", default="text", show_default=True, help="Column holding the text.")
@click.option("--label-col", default="label", show_default=True, help="Column holding the label.")
@click.option("--positive", required=True, help="Label value meaning 'false claim' (e.g. fake).")
@click.option(
    "--embeddings/--no-embeddings",
    default=True,
    show_default=True,
    help="Stack frozen embeddings of the bundled multilingual encoder with the lexical model (cached on disk).",
)
@click.option(
    "--cache",
    "cache_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Folder where embeddings of the CSV texts are cached between runs "
    "[default: ~/.cache/misinfo-monitor/bench, or $MISINFO_EMBEDDING_CACHE/bench].",
)
@click.option("--json", "as_json", is_flag=True, help="Print figures; the last line is one JSON object.")
def bench_classify(
    train_csv: tuple[str, ...],
    test_csv: str,
    text_col: str,
    label_col: str,
    positive: str,
    embeddings: bool,
    cache_dir: str | None,
    as_json: bool,
) -> None:
    """Train the risk classifier on labelled CSVs and report weighted F1, precision, recall on a test CSV.

    The same model `misinfo train` builds for risk: a linear SVM on TF-IDF word and character n-grams
    stacked with an RBF SVM on frozen sentence embeddings (the bundled multilingual E5), calibrated by
    logistic regression. The plain baseline (character n-gram TF-IDF + linear SVM) is reported beside
    it from the same split. No database needed; the first run encodes the texts (about 45 short texts
    a second; long articles are encoded from their first 2,000 characters), later runs read the cache.

    \b
    Example:
      misinfo bench classify --train ../shared/benchmarks/constraint-2021-covid-en/Constraint_Train.csv \\
        --test ../shared/benchmarks/constraint-2021-covid-en/Constraint_Val.csv \\
        --text-col tweet --label-col label --positive fake --json
    """
    from classifiers.evaluate import benchmark

    texts: list[str] = []
    labels: list[int] = []
    for path in train_csv:
        t, y = read_labelled_csv(path, text_col, label_col, positive)
        texts += t
        labels += y
    test_texts, test_labels = read_labelled_csv(test_csv, text_col, label_col, positive)
    if len(set(labels)) < 2:
        raise UsageError(
            f"the training data has only one class — is --positive '{positive}' a value of {label_col}?"
        )
    train_vecs = test_vecs = None
    embedder = "none"
    if embeddings:
        from classifiers.embed import DEFAULT_MODEL, load_encoder
        from classifiers.evaluate import cached_encode, embedding_cache
        from classifiers.features import clip

        cache = Path(cache_dir) if cache_dir else embedding_cache("bench")

        encoder, warning = load_encoder(DEFAULT_MODEL)
        if warning:
            click.echo(f"warning: {warning}", err=True)
        train_vecs = cached_encode(encoder, [clip(t) for t in texts], cache)
        test_vecs = cached_encode(encoder, [clip(t) for t in test_texts], cache)
        embedder = encoder.model_id
    figures: dict[str, Any] = benchmark(texts, labels, test_texts, test_labels, train_vecs, test_vecs)
    figures["embeddings"] = embedder
    if not as_json:
        for key, value in figures.items():
            click.echo(f"{key}: {value}")
        return
    for key, value in figures.items():
        click.echo(f"{key}: {value}", err=True)
    sys.stdout.write(json.dumps(figures) + "\n")


def register(cli: click.Group) -> None:
    cli.add_command(classify)
    cli.add_command(train)
    cli.add_command(eval_)
    bench = cli.commands.get("bench")
    if isinstance(bench, click.Group):
        bench.add_command(bench_classify)
        bench.add_command(bench_library)
