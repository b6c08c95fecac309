"""Shared CLI logic: progress and summaries."""

from __future__ import annotations

import click


def say(ctx: click.Context | None, message: str) -> None:
    """Print a summary line to stderr unless -q was given."""
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is not None and (ctx.find_root().obj or {}).get("quiet"):
        return
    click.echo(message, err=True)
