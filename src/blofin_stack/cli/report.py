"""``blofin report show``: print a stored daily report."""

from __future__ import annotations

import typer
from rich.markdown import Markdown

from blofin_stack.cli.output import console, fail, print_json
from blofin_stack.config import get_settings
from blofin_stack.db.engine import get_engine
from blofin_stack.db.reports import load_report
from blofin_stack.pipeline.reporter import render_markdown

app = typer.Typer(help="Daily reports.", no_args_is_help=True)


@app.command("show")
def show(
    date: str | None = typer.Option(None, "--date", help="Report date YYYY-MM-DD (default: the newest)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report JSON."),
) -> None:
    """Show the daily report of DATE (default: the newest)."""
    with get_engine(get_settings().database_url).connect() as connection:
        report = load_report(connection, date)
    if report is None:
        where = f"for {date}" if date else "yet"
        raise fail(f"no report {where}; run: blofin pipeline run --mode all")
    if as_json:
        print_json(report)
    else:
        console.print(Markdown(render_markdown(report)))
