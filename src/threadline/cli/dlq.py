"""``threadline dlq``: the ingest queue's dead-letter stream."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from threadline.cli.common import QueueOpt, fail, require_queue, settings_from

dlq_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                      help="Inspect, retry or drop batches in the ingest queue's dead-letter stream.")
DlqIdsArg = Annotated[list[str] | None, typer.Argument(help="dead-letter entry ids (from `threadline dlq list`)")]
AllOpt = Annotated[bool, typer.Option("--all", help="every dead-lettered batch")]


def _dlq(queue: str | None) -> Any:
    from threadline.queue.connection import sync_client
    from threadline.queue.pool import queue_keys

    settings = settings_from(queue_url=queue)
    return sync_client(require_queue(settings)), queue_keys(settings)


def _dlq_ids(ids: list[str] | None, every: bool) -> list[str] | None:
    if bool(ids) == every:
        raise fail(ValueError("name dead-letter entry ids, or pass --all"))
    return None if every else ids


@dlq_app.command("list")
def dlq_list(queue: QueueOpt = None,
             limit: Annotated[int, typer.Option(min=1, help="show at most this many, oldest first")] = 100) -> None:
    """List dead-lettered batches: where they came from, span count, deliveries, when and why they failed."""
    import datetime

    import redis
    from rich.console import Console
    from rich.table import Table

    from threadline.queue import dlq

    client, keys = _dlq(queue)
    try:
        letters = dlq.list_letters(client, keys, limit)
        total = dlq.size(client, keys)
    except redis.RedisError as exc:
        raise fail(exc) from None
    table = Table("dlq id", "stream", "entry id", "spans", "deliveries", "failed (UTC)", "error")
    for letter in letters:
        when = datetime.datetime.fromtimestamp(letter.failed_at_ms / 1000, datetime.UTC)
        table.add_row(letter.dlq_id, letter.stream, letter.entry_id, str(letter.spans), str(letter.attempts),
                      when.strftime("%Y-%m-%d %H:%M:%S"), letter.error[:200])
    Console().print(table)
    typer.echo(f"{total} batch(es) in {keys.dlq}")


@dlq_app.command("retry")
def dlq_retry(ids: DlqIdsArg = None, every: AllOpt = False, queue: QueueOpt = None) -> None:
    """Put dead-lettered batches back on their streams for the workers (with fresh delivery attempts)."""
    import redis

    from threadline.queue import dlq

    client, keys = _dlq(queue)
    try:
        count = dlq.retry(client, keys, _dlq_ids(ids, every))
    except KeyError as exc:
        raise fail(ValueError(f"no dead-lettered batch has id {exc.args[0]}; see `threadline dlq list`")) from None
    except redis.RedisError as exc:
        raise fail(exc) from None
    typer.echo(f"requeued {count} batch(es)")


@dlq_app.command("drop")
def dlq_drop(ids: DlqIdsArg = None, every: AllOpt = False, queue: QueueOpt = None,
             yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False) -> None:
    """Delete dead-lettered batches for good (their spans are never stored)."""
    import redis

    from threadline.queue import dlq

    client, keys = _dlq(queue)
    selected = _dlq_ids(ids, every)
    if not yes:
        typer.confirm(f"Delete {'every' if selected is None else len(selected)} dead-lettered batch(es) for good?",
                      abort=True)
    try:
        count = dlq.drop(client, keys, selected)
    except KeyError as exc:
        raise fail(ValueError(f"no dead-lettered batch has id {exc.args[0]}; see `threadline dlq list`")) from None
    except redis.RedisError as exc:
        raise fail(exc) from None
    typer.echo(f"dropped {count} batch(es)")
