"""The export's domain exception."""

from __future__ import annotations

from fulcrum.core.errors import DomainError


class ExportError(DomainError, RuntimeError):
    """The bundle cannot be written (parity check failed, run folder incomplete, ...).

    Nothing is left at the destination when this is raised: bundles are built in a temporary
    folder and renamed into place only after every check passed.
    """
