"""Tables stay readable where output is not a terminal: full figures as a Markdown table."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from fulcrum.core.tables import markdown_table, print_table


def _table() -> Table:
    t = Table(title="OR-temporal, [bold]warm[/bold] users", caption="k = 10")
    t.add_column("recommender")
    t.add_column("NDCG@10", justify="right")
    t.add_column("mark", justify="center")
    t.add_row("Fulcrum hybrid retrieval (serving default)", "0.129134", "[green]ok[/green]")
    t.add_row(Text("pop|ularity"), "0.033700", "[0, 1]")
    return t


def test_markdown_table_hand_worked():
    # markup stripped, rich Text as its plain string, "|" escaped, brackets that are not markup kept,
    # right-aligned -> ---:, centred -> :---:, title bold above, caption below
    assert markdown_table(_table()) == "\n".join([
        "**OR-temporal, warm users**",
        "",
        "| recommender | NDCG@10 | mark |",
        "|---|---:|:---:|",
        "| Fulcrum hybrid retrieval (serving default) | 0.129134 | ok |",
        "| pop\\|ularity | 0.033700 | [0, 1] |",
        "",
        "k = 10",
    ])


def test_print_table_not_a_terminal_keeps_every_figure():
    # an 80-column file console is where rich shrinks these columns to "0.1…"
    buf = io.StringIO()
    print_table(Console(file=buf, width=40), _table())
    out = buf.getvalue()
    assert "| Fulcrum hybrid retrieval (serving default) | 0.129134 | ok |" in out
    assert "…" not in out


def test_print_table_on_a_terminal_draws_the_rich_table():
    buf = io.StringIO()
    print_table(Console(file=buf, width=120, force_terminal=True, color_system=None), _table())
    out = buf.getvalue()
    assert "0.129134" in out and "|---" not in out and "┃" in out
