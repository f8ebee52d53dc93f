"""Print a rich table so that it stays readable where the output goes.

On a terminal a rich table is drawn as usual. Anywhere else (a log file, a pipe, CI) rich falls
back to 80 columns and shrinks the columns until every number reads "0.1…"; the figures a run
exists to show are lost. There the same table is written as a GitHub Markdown table instead:
every cell in full, one row per line, right-aligned columns marked `---:`, and it pastes into an
issue or a report as is. Everything that prints a table goes through :func:`print_table`.
"""

from __future__ import annotations

from typing import Any


def _plain(cell: Any) -> str:
    """The text of one cell: rich Text as its plain string, console markup stripped."""
    from rich.errors import MarkupError
    from rich.text import Text

    if cell is None:
        return ""
    if isinstance(cell, Text):
        text = cell.plain
    elif isinstance(cell, str):
        try:
            text = Text.from_markup(cell).plain
        except MarkupError:  # brackets that are not markup, e.g. "[0, 1]"
            text = cell
    else:
        text = str(cell)
    return " ".join(text.split()).replace("|", "\\|")


def markdown_table(table: Any) -> str:
    """A rich ``Table`` as a GitHub Markdown table (title as a bold line above it, caption below)."""
    headers = [_plain(c.header) for c in table.columns]
    columns = [[_plain(cell) for cell in c.cells] for c in table.columns]
    align = ["---:" if c.justify == "right" else ":---:" if c.justify == "center" else "---"
             for c in table.columns]
    lines = []
    if table.title:
        lines += [f"**{_plain(table.title)}**", ""]
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "|".join(align) + "|")
    for row in zip(*columns, strict=True):
        lines.append("| " + " | ".join(row) + " |")
    if table.caption:
        lines += ["", _plain(table.caption)]
    return "\n".join(lines)


def print_table(console: Any, table: Any) -> None:
    """Draw ``table`` on a terminal; write it as Markdown when the console is not one."""
    if console.is_terminal:
        console.print(table)
        return
    # markup=False, highlight=False: the cells are plain text now; soft_wrap: never re-wrap a row
    console.print(markdown_table(table), markup=False, highlight=False, soft_wrap=True)
    console.print()
