"""Broken input files give a DataError naming the file and the line, and the CLI exits 2 with one line."""

from __future__ import annotations

import gzip

import pytest
from typer.testing import CliRunner

from fulcrum.cli import app
from offline.data import generic
from offline.data import online_retail as OR
from offline.data.errors import DataError
from tests.fixtures.retail_rows import HEADER, retail_rows, write_csv


def _rows():
    rows, _ = retail_rows()
    return rows


def test_truncated_gzip_names_file_and_line(tmp_path):
    path = write_csv(tmp_path / "whole.csv.gz", _rows())
    blob = path.read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError) as info:
        OR.load(cut)
    err = info.value
    assert err.path == str(cut)
    assert err.line is not None and err.line > 1
    assert "truncated" in str(err) and "cut.csv.gz" in str(err) and f"line {err.line}" in str(err)


def test_not_gzip_at_all(tmp_path):
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"\x1f\x8b" + b"garbage" * 20)
    with pytest.raises(DataError) as info:
        OR.load(bad)
    assert "bad.csv.gz" in str(info.value)


def test_wrong_column_count_names_line(tmp_path):
    rows = _rows()
    rows[9] = rows[9][:5]  # data row 10 -> line 11 (the header is line 1)
    path = write_csv(tmp_path / "short.csv", rows, gz=False)
    with pytest.raises(DataError) as info:
        OR.load(path)
    assert info.value.line == 11
    assert "expected 8 fields, found 5" in str(info.value)


def test_unparsable_date_names_line(tmp_path):
    rows = _rows()
    rows[19][4] = "2011-13-45 99:00:00"  # data row 20 -> line 21
    path = write_csv(tmp_path / "date.csv.gz", rows)
    with pytest.raises(DataError) as info:
        OR.load(path)
    assert info.value.line == 21
    assert "InvoiceDate" in str(info.value) and "2011-13-45" in str(info.value)


def test_garbled_quantity_names_line(tmp_path):
    rows = _rows()
    rows[4][3] = "six"  # line 6
    path = write_csv(tmp_path / "qty.csv.gz", rows)
    with pytest.raises(DataError) as info:
        OR.load(path)
    assert info.value.line == 6 and "Quantity" in str(info.value)


def test_missing_column_named(tmp_path):
    rows = [r[:7] for r in _rows()]
    path = write_csv(tmp_path / "cols.csv", rows, header=HEADER[:6] + ["Country"], gz=False)
    with pytest.raises(DataError) as info:
        OR.load(path)
    assert "CustomerID" in str(info.value) and info.value.line == 1


def test_generic_bad_timestamp(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,event_type,timestamp\nu1,i1,PURCHASE,2024-01-01T10:00:00\n"
                    "u1,i2,PURCHASE,yesterday\n")
    with pytest.raises(DataError) as info:
        generic.load(path)
    assert info.value.line == 3 and "yesterday" in str(info.value)


def test_cli_one_line_error_exit_2(tmp_path):
    path = write_csv(tmp_path / "whole.csv.gz", _rows())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(path.read_bytes()[:1500])
    result = CliRunner().invoke(app, ["data", "prepare", "--raw", str(cut), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    text = result.output.strip()
    assert "cut.csv.gz" in text and "line" in text
    assert "Traceback" not in text
    assert not (tmp_path / "out" / "events.parquet").exists()


def test_gzip_helper_roundtrip(tmp_path):
    # guards the fixture itself: the synthetic file is a valid gzip CSV with the raw header
    path = write_csv(tmp_path / "ok.csv.gz", _rows())
    with gzip.open(path, "rt") as f:
        assert f.readline().strip().split(",") == HEADER
