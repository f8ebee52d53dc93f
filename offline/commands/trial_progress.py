"""The progress bar of a hyper-parameter search: trials done, best value so far, elapsed time."""

from __future__ import annotations


def trial_progress(console, title: str, best_label: str, enabled: bool):
    """A rich ``Progress`` (use as a context manager; add one task with ``best=nan``)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(title),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} trials"),
        TextColumn(best_label + " {task.fields[best]:.4f}"),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
    )
