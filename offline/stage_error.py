"""``StageError``: a training stage that cannot do its job, with the cause and the fix.

Every stage of ``fulcrum train`` / ``export`` / ``evaluate`` / ``retrain`` (examples, text
fine-tuning, the two towers, the hybrid weights, the ranking head, the export checks) raises it
instead of falling back to something weaker; the commands print its one line and exit non-zero.
A stage the user switched off explicitly (``--no-ranker``) is not an error: the run records it.
"""

from __future__ import annotations

from fulcrum.core.errors import DomainError


class StageError(DomainError, RuntimeError):
    """``str(e)`` is the one line the CLI prints: ``<stage>: <cause> (fix: <fix>)``."""

    def __init__(self, stage: str, cause: str, fix: str) -> None:
        super().__init__(f"{stage}: {cause} (fix: {fix})")
        self.stage = stage
        self.cause = cause
        self.fix = fix
