"""`mlvc runs` and `mlvc log --table`: runs side by side, as a table, JSON or CSV."""

from __future__ import annotations

import sys
from pathlib import Path

from mlvc.cli import environ, render
from mlvc.ids import short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rich.console import Console

    from mlvc.lineage.runs import RunsResult, TableRun

_STATUS = {"ok": "green", "failed": "red", "interrupted": "yellow"}


def runs_command(
    targets: list[str],
    where: list[str] | None = None,
    command: str | None = None,
    sort: str | None = None,
    reverse: bool = False,
    limit: int | None = None,
    since: str | None = None,
    owner: str | None = None,
    all_runs: bool = False,
    json: bool = False,
    csv: bool = False,
) -> None:
    from mlvc.errors import MlvcError
    from mlvc.lineage.runs import RunsQuery, runs
    from mlvc.paths import check_text

    if json and csv:
        raise MlvcError("--json and --csv cannot be combined", hint="choose one output format")
    texts: list[tuple[str, str | None]] = [("target", t) for t in targets]
    texts += [("filter", w) for w in where or ()]
    texts += [("command", command), ("column", sort), ("owner", owner), ("date", since)]
    for what, text in texts:
        if text is not None:
            check_text(text, what)
    query = RunsQuery(
        tuple(targets), tuple(where or ()), command, sort, reverse, limit, since, owner, all_runs
    )
    repo = environ.repo()
    try:
        result = runs(repo, query, Path.cwd())
    finally:
        repo.close()
    if json:
        from mlvc.encode import table_json

        render.emit_json(table_json(result))
    elif csv:
        _write_csv(result)
    elif sys.stdout.isatty():
        print_table(render.out(), result)
    else:
        header = result.columns
        rows = [_cells(run, header) for run in result.runs]
        right = {i for i, key in enumerate(header) if _numeric(key)}
        render.columns(_title(result), header, rows, right)


def _write_csv(result: RunsResult) -> None:
    """A header of column keys, then a row per run: the full id, times as recorded, the
    command line, values as text (missing ones empty), quoted by the csv module."""
    import csv

    from mlvc.lineage.runs import command_line
    from mlvc.lineage.where import text

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(result.columns)
    for run in result.runs:
        row = []
        for key in result.columns:
            value, present = run.value(key)
            if key == "id":
                value = run.id.hex()
            elif key == "command":
                value = command_line(run.command)
            row.append(text(value) if present else "")
        writer.writerow(row)


def _title(result: RunsResult) -> str:
    count = len(result.runs)
    return f"{count} run{'s' if count != 1 else ''}"


def _numeric(key: str) -> bool:
    return key == "duration" or key.startswith("metrics.")


def _cells(run: TableRun, columns: list[str]) -> list[str]:
    """A run's values as people read them; every cell passes through `render.shown`
    later."""
    from mlvc.lineage.graph import command_text
    from mlvc.lineage.where import text

    cells = [short(run.id), render.when(run.started)[:16], command_text(run.command, 40)]
    for key in columns[3:]:
        value, present = run.value(key)
        if not present:
            cells.append("-")
        elif key == "duration":
            cells.append(_duration(value))
        elif isinstance(value, float) and key.startswith("metrics."):
            cells.append(f"{value:.6g}")
        else:
            cells.append(text(value))
    return cells


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def print_table(console: Console, result: RunsResult) -> None:
    """The rich table: every cell is Text made from `render.shown`, never markup."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=_title(result), title_justify="left", box=None, header_style="bold")
    for key in result.columns:
        table.add_column(
            render.shown(key), justify="right" if _numeric(key) else "left", overflow="fold"
        )
    for run in result.runs:
        cells = [Text(render.shown(cell)) for cell in _cells(run, result.columns)]
        cells[0].stylize("yellow")
        cells[3].stylize(_STATUS.get(run.status, "default"))
        table.add_row(*cells)
    console.print(table)
