"""The data pipeline's domain exception."""

from __future__ import annotations

from fulcrum.core.errors import DomainError


class DataError(DomainError):
    """Input data that cannot be read: names the file and, when known, the line (or row).

    Dirty *values* (negative quantities, guests, ...) are counted and dropped, never raised;
    this is for input whose structure is broken (bad gzip, wrong column count, unparsable date,
    missing column).
    """

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")
