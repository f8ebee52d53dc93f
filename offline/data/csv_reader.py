"""Strict CSV reading (plain or gzip) that reports broken input by file and line.

pandas' C parser reports a truncated gzip or a short row from deep inside its internals; this
reader walks the file with the standard ``csv`` module instead, so every structural problem
becomes a :class:`DataError` naming the file and the line. All values come back as strings:
adapters parse and validate them, counting dirty values rather than failing on them.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from offline.data.errors import DataError

#: Name of the column holding each row's line number in the file (1 = the header line).
LINE_COLUMN = "_line"
_GZIP_MAGIC = b"\x1f\x8b"
_PROGRESS_EVERY = 25_000

ProgressFn = Callable[[int, int], None]


def _open_text(path: Path) -> tuple[io.BufferedReader, io.TextIOWrapper]:
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    magic = raw.peek(2)[:2]
    stream = gzip.GzipFile(fileobj=raw, mode="rb") if magic == _GZIP_MAGIC else raw
    return raw, io.TextIOWrapper(stream, encoding="utf-8", newline="")


def read_csv_strict(
    path: str | Path,
    required_columns: Sequence[str] = (),
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """Read a CSV (gzip detected by its magic bytes) into a DataFrame of strings.

    The header must contain ``required_columns``; every row must have as many fields as the
    header. Adds :data:`LINE_COLUMN` (int line number of each row). ``progress(done, total)`` is
    called now and then with bytes read from disk and the file size.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(str(path), "file not found")
    total = path.stat().st_size
    rows: list[list[str]] = []
    lines: list[int] = []
    raw, text = _open_text(path)
    reader = csv.reader(text)
    try:
        with raw, text:
            try:
                header = next(reader)
            except StopIteration:
                raise DataError(str(path), "file is empty", line=1) from None
            header = [h.strip().lstrip("\ufeff") for h in header]
            missing = [c for c in required_columns if c not in header]
            if missing:
                raise DataError(
                    str(path), f"missing column(s) {missing}; header has {header}", line=1
                )
            width = len(header)
            for row in reader:
                if not row:  # blank line
                    continue
                if len(row) != width:
                    raise DataError(
                        str(path), f"expected {width} fields, found {len(row)}", line=reader.line_num
                    )
                rows.append(row)
                lines.append(reader.line_num)
                if progress is not None and len(rows) % _PROGRESS_EVERY == 0:
                    progress(raw.tell(), total)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
        after = reader.line_num
        raise DataError(
            str(path), f"truncated or corrupt file after line {after} ({e})", line=after + 1
        ) from e
    except UnicodeDecodeError as e:
        raise DataError(str(path), f"not UTF-8 text ({e.reason})", line=reader.line_num + 1) from e
    except csv.Error as e:
        raise DataError(str(path), f"malformed CSV ({e})", line=reader.line_num) from e
    if progress is not None:
        progress(total, total)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    frame = pd.DataFrame({name: pd.Series(col, dtype=object)
                          for name, col in zip(header, columns, strict=True)})
    frame[LINE_COLUMN] = pd.Series(lines, dtype="int64")
    return frame
