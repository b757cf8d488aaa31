"""`misinfo rebuttals` (import/export/list), `misinfo match`, `misinfo bench claim-retrieval`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from monitor.cli.context import app
from monitor.errors import UsageError
from monitor.library.io import export_claimreview, import_file
from monitor.store.rebuttals import list_rebuttals, stale_flagged_items
from monitor.store.users import require_user


@click.group()
def rebuttals() -> None:
    """Manage the rebuttal library: import, export as ClaimReview, list.

    \b
    Example:
      misinfo rebuttals import data/rebuttals/starter.yaml --approved-by alice
    """


@rebuttals.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--approved-by",
    "approved_by",
    default=None,
    help="Approver (or admin) user name who approves the imported rebuttals.",
)
@click.pass_context
def import_cmd(ctx: click.Context, file: Path, approved_by: str | None) -> None:
    """Import rebuttals from YAML, JSON, CSV or ClaimReview JSON-LD (one transaction; re-import is harmless).

    Without --approved-by the rebuttals are drafts. A bad row stops the import and names its position.

    \b
    Example:
      misinfo rebuttals import data/rebuttals/starter.yaml --approved-by alice
      misinfo rebuttals import factchecks.jsonld
    """
    db = app(ctx).db
    approver = require_user(db, approved_by) if approved_by else None
    report = import_file(db, file, approver=approver)
    click.echo(f"{file}: {report.summary()}")


@rebuttals.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["claimreview"]),
    default="claimreview",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
@click.pass_context
def export_cmd(ctx: click.Context, fmt: str, out: Path | None) -> None:
    """Export approved rebuttals as schema.org ClaimReview JSON-LD (one object per refuted claim).

    \b
    Example:
      misinfo rebuttals export --format claimreview --out claimreview.json
    """
    from rebuttals.claimreview import validate

    objects = export_claimreview(app(ctx).db)
    problems = validate(objects)
    if problems:
        raise UsageError("export would be invalid: " + "; ".join(problems[:3]) + " — fix those rebuttals")
    text = json.dumps(objects, ensure_ascii=False, indent=2)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        click.echo(f"{len(objects)} ClaimReview object(s) written to {out}", err=True)


@rebuttals.command("list")
@click.option(
    "--status",
    "status",
    type=click.Choice(["draft", "approved", "retired"]),
    default=None,
    help="Only this status.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def list_cmd(ctx: click.Context, status: str | None, as_json: bool) -> None:
    """List rebuttals with status, version and number of claims.

    \b
    Example:
      misinfo rebuttals list --status approved
    """
    rows = list_rebuttals(app(ctx).db, status=status, limit=100_000)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("(no rebuttals)")
    for r in rows:
        click.echo(
            f"{r['id']:>5}  {r['status']:<8} v{r['version']:<3} {r['key'] or '-':<20} {r['title']} ({len(r['claims'])} claim(s))"
        )


@rebuttals.command("train-matcher")
@click.option(
    "--min-linked",
    "min_linked",
    type=int,
    default=30,
    show_default=True,
    help="Refuse with fewer linked items than this.",
)
@click.pass_context
def train_matcher_cmd(ctx: click.Context, min_linked: int) -> None:
    """Train the suggestion re-ranker from analysts' links and dismissals, then re-match flagged items.

    \b
    Example:
      misinfo rebuttals train-matcher
    """
    from monitor.match.suggest import train_matcher  # lazy: scipy/scikit-learn re-ranker; --help stays fast

    a = app(ctx)
    info = train_matcher(a.config, a.db, min_linked=min_linked)
    click.echo(
        f"re-ranker ({info['kind']}) trained on {info['linked_items']} linked and {info['no_match_items']} dismissed"
        f" item(s), saved to {info['path']}; {info['rematched']} item(s) re-matched"
    )


@click.command("match")
@click.option(
    "--item",
    "items",
    type=int,
    multiple=True,
    help="Only this item id (repeatable); default: every stale flagged item.",
)
@click.pass_context
def match_cmd(ctx: click.Context, items: tuple[int, ...]) -> None:
    """Suggest approved rebuttals for flagged items whose suggestions are stale (library changed).

    \b
    Example:
      misinfo match
      misinfo match --item 42
    """
    from monitor import pipeline  # lazy: the stages pull scikit-learn/scipy (~2 s); --help stays fast

    a = app(ctx)
    ids = sorted(set(items)) or stale_flagged_items(a.db)
    if not ids:
        click.echo("nothing to match: every flagged item is up to date with the library")
        return
    with click.progressbar(length=len(ids), label="Matching", show_pos=True, file=sys.stderr) as bar:
        report = pipeline.match(a.config, a.db, item_ids=ids, progress=bar.update)
    click.echo(report.summary())


@click.command("claim-retrieval")
@click.option(
    "--claims",
    "claims",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verified claims JSONL (vclaim_id, vclaim, title).",
)
@click.option(
    "--train-queries",
    "train_queries",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Training queries TSV: id<TAB>text, no header.",
)
@click.option(
    "--train-qrels",
    "train_qrels",
    required=True,
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Training qrels (TREC format); repeat for train and dev.",
)
@click.option(
    "--queries",
    "queries",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Test queries TSV.",
)
@click.option(
    "--qrels",
    "qrels",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Test qrels (TREC format).",
)
@click.option(
    "--cache",
    "cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for cached claim embeddings "
    "[default: ~/.cache/misinfo-monitor/claim-retrieval, or $MISINFO_EMBEDDING_CACHE/claim-retrieval].",
)
@click.option(
    "--no-dates",
    "no_dates",
    is_flag=True,
    help="Text only: do not give the re-ranker the days between tweet and claim.",
)
@click.option(
    "--reranker",
    "kind",
    type=click.Choice(["hgb", "logistic"]),
    default="hgb",
    show_default=True,
    help="Re-ranker model.",
)
@click.option(
    "--model",
    "model",
    default=None,
    help="Encoder (default: the config's fallback model, the bundled all-MiniLM-L6-v2).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the figures as one JSON object on the last line."
)
@click.pass_context
def claim_retrieval_cmd(
    ctx: click.Context,
    claims: Path,
    train_queries: Path,
    train_qrels: tuple[Path, ...],
    queries: Path,
    qrels: Path,
    cache: Path | None,
    no_dates: bool,
    kind: str,
    model: str | None,
    as_json: bool,
) -> None:
    """Claim retrieval (CheckThat! 2A): train the re-ranker on train qrels, report MAP@1/3/5, MRR, P@1 on test.

    \b
    Example:
      D=../shared/benchmarks/checkthat-2021-2a-en
      misinfo bench claim-retrieval --claims $D/vclaims.jsonl \\
        --train-queries $D/CT2022-Task2A-EN-Train-Dev_Queries.tsv \\
        --train-qrels $D/CT2022-Task2A-EN-Train_QRELs.tsv --train-qrels $D/CT2022-Task2A-EN-Dev_QRELs.tsv \\
        --queries $D/CT2022-Task2A-EN-Dev-Test_Queries.tsv --qrels $D/CT2022-Task2A-EN-Dev-Test_QRELs.tsv
    """
    from classifiers.embed import load_encoder
    from classifiers.evaluate import embedding_cache
    from rebuttals.evaluate import run_claim_retrieval

    cfg = app(ctx).config
    encoder, warning = load_encoder(
        model or cfg.classifier.fallback_model, cfg.classifier.fallback_model, cfg.classifier.threads
    )
    if warning:
        click.echo(f"warning: {warning}", err=True)
    figures = run_claim_retrieval(
        claims,
        train_queries,
        list(train_qrels),
        queries,
        qrels,
        encoder,
        cache or embedding_cache("claim-retrieval"),
        kind=kind,
        use_dates=not no_dates,
    )
    for name in ("map@1", "map@3", "map@5", "mrr", "p@1"):
        click.echo(f"{name.upper():>6}: {figures[name]:.4f}")
    click.echo(f"     n: {figures['n']}")
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))


def register(cli: click.Group) -> None:
    cli.add_command(rebuttals)
    cli.add_command(match_cmd)
    if "bench" in cli.commands and isinstance(cli.commands["bench"], click.Group):
        cli.commands["bench"].add_command(claim_retrieval_cmd)
