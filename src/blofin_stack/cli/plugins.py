"""``--plugin FILE`` for every command that computes features or runs strategies."""

from __future__ import annotations

from pathlib import Path

import typer

from blofin_stack.cli.output import console
from blofin_stack.config import Settings
from blofin_stack.ml.deploy import activate_trading_models
from blofin_stack.strategies.plugins import PluginReport, load_plugins, plugin_paths


def plugin_option() -> list[Path]:
    """The typer option (repeatable); every ``*.py`` in ``PLUGINS_DIR`` is loaded as well."""
    return typer.Option(
        [], "--plugin", help="Plugin file of features and strategies (repeatable); PLUGINS_DIR/*.py load too."
    )


def load_cli_plugins(settings: Settings, files: list[Path]) -> PluginReport:
    """Load ``PLUGINS_DIR`` plus ``files`` and the active trading models (for the ML strategies); print
    each failed plugin (file:line: error) or model that cannot be loaded, and go on."""
    report = load_plugins(plugin_paths(settings.plugins_dir, files, settings.strategies_dir))
    for error in report.errors:
        console.print(f"[bold red]{error}[/]", soft_wrap=True)
    for outcome in activate_trading_models(settings.ml_models_path).values():
        if "cannot be loaded" in outcome:
            console.print(f"[bold red]{outcome}[/]", soft_wrap=True)
    return report
