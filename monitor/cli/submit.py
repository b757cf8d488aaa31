"""`misinfo submit`: an analyst reports a link, a pasted text or a screenshot seen outside the feeds."""

from __future__ import annotations

import json
from pathlib import Path

import click

from monitor.cli.context import app
from monitor.errors import NotFound, UsageError


@click.command()
@click.option("--url", default=None, help="Link to the post or page (fetched politely, its text extracted).")
@click.option("--text", default=None, help="The text of the post, pasted.")
@click.option(
    "--image",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A screenshot (PNG, JPEG, WebP, GIF, BMP); its text is read with Tesseract (vie+eng).",
)
@click.option("--note", default=None, help="Where it was seen, why it matters.")
@click.option("--by", "by", default=None, help="Username of the analyst submitting (default: cli).")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the stored item, its scores and suggestions as JSON."
)
@click.pass_context
def submit(
    ctx: click.Context,
    url: str | None,
    text: str | None,
    image: Path | None,
    note: str | None,
    by: str | None,
    as_json: bool,
) -> None:
    """Store a link, text or screenshot as an item, classify and match it at once.

    A submission of something already stored becomes a new sighting of that item. With --json:
    item_id, created, text, risk, relevance, suggestions; flagged (the item has its own queue entry);
    group_flagged and flagged_item_id (its near-duplicate group is already in the queue as that item,
    so it gets no entry of its own; flagged_item_id is null otherwise). Bad input (not an
    image, too large, a private address, empty text) exits 2 and stores nothing.

    \b
    Example:
      misinfo submit --url https://example.org/post/1 --note "shared in a Zalo group"
      misinfo submit --image screenshot.png --by an --json
    """
    from monitor import pipeline  # lazy: the stages pull scikit-learn/scipy (~2 s); --help stays fast
    from monitor.store.users import get_user  # lazy: only when submitting

    given = [
        name for name, value in (("--url", url), ("--text", text), ("--image", image)) if value is not None
    ]
    if len(given) != 1:
        raise UsageError("give exactly one of --url, --text or --image")
    data: bytes | None = None
    if image is not None:
        try:
            data = image.read_bytes()
        except OSError as exc:
            raise UsageError(f"{image}: cannot read the file ({exc.strerror or exc})") from None
    a = app(ctx)
    cfg, db = a.config, a.db
    user_id = None
    if by:
        user = get_user(db, by)
        if user is None:
            raise NotFound(f"no user named '{by}' (see `misinfo users list`)")
        user_id = int(user["id"])
    sub = pipeline.Submission(
        url=url,
        text=text,
        image=data,
        image_name=str(image) if image is not None else "the image",
        note=note,
        user_id=user_id,
        username=by or "cli",
    )
    report = pipeline.submit(cfg, db, sub)
    if as_json:
        doc = report.as_dict()
        click.echo(
            json.dumps(
                {
                    k: doc[k]
                    for k in (
                        "item_id",
                        "text",
                        "flagged",
                        "group_flagged",
                        "flagged_item_id",
                        "risk",
                        "relevance",
                        "suggestions",
                    )
                }
                | {"created": doc["created"]},
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    state = "new item" if report.created else "already stored: new sighting of"
    click.echo(f"{state} #{report.item_id}")
    if report.risk is not None:
        click.echo(
            f"risk {report.risk:.2f}, relevance {report.relevance or 0:.2f}"
            + (" — flagged for review" if report.flagged else "")
        )
    if report.group_flagged:
        click.echo(f"its near-duplicate group is already in the review queue as #{report.flagged_item_id}")
    if report.suggestions:
        click.echo("suggested rebuttals:")
        for s in report.suggestions:
            click.echo(f"  {float(str(s['score'])):.2f}  #{s['rebuttal_id']} {s['title']}")
    else:
        click.echo("no approved rebuttal matches")


def register(cli: click.Group) -> None:
    cli.add_command(submit)
