"""Trace files that are broken or hostile (issue 19, F4): each ends in an error that names the
file — and the row and column where there are rows — and says how to fix it, never in a
traceback. Each test here failed before the fix it covers; ``test_fuzz.py`` looks for more."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from suanli.errors import InputError
from suanli.trace import read_trace, replay
from suanli.trace.format import BOUNDS, MAX_GANG, MAX_PRIORITY, MAX_TIME_S
from suanli.trace.io import parquet_bytes
from tests.conftest import run_cli

HEAD = "# format_version: 1\n# reference: nvidia_h100_sxm5\n# fleet: nvidia_h100_sxm5:16:8\n"
GOOD = HEAD + "id,tenant,submit_s,gang,duration_s,profile\na,lab,0,1,60,dl-training\n"


def problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as exc:
        read_trace(path)
    return [str(p) for p in exc.value.problems]


def one_row(tmp_path: Path, **cells: str) -> Path:
    """A trace of one job with ``cells`` over a valid row (given by duration)."""
    row = {"id": "a", "tenant": "lab", "submit_s": "0", "gang": "1", "duration_s": "60"}
    row |= {"profile": "dl-training", **cells}
    p = tmp_path / "t.csv"
    head = HEAD.replace("format_version: 1", "format_version: 2") if "gang_min" in cells else HEAD
    p.write_text(head + ",".join(row) + "\n" + ",".join(row.values()) + "\n", "utf-8")
    return p


def test_random_bytes_exit_2_and_say_what_a_trace_is(tmp_path: Path) -> None:
    bad = tmp_path / "noise.csv"
    bad.write_bytes(random.Random(19).randbytes(4000))
    for args in (
        ["trace", "inspect", str(bad)],
        ["simulate", "--trace", str(bad), "-p", "fifo", "--out", str(tmp_path / "o")],
    ):
        r = run_cli(*args)
        err = " ".join(r.stderr.split())
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr
        assert f"{bad}:1: not a text file" in err
        assert "starting with '# format_version: 1'" in err and "suanli trace convert" in err


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e300", "3.2e8", "-1"])
def test_submit_s_must_be_finite_and_within_ten_years(tmp_path: Path, value: str) -> None:
    p = one_row(tmp_path, submit_s=value)
    shown = {"NaN": "nan", "1e300": "1e+300", "3.2e8": "320000000"}.get(value, value)
    assert problems(p) == [
        f"{p}:5: row 1, column submit_s: must be a finite number ≥ 0 and ≤ 315,360,000 "
        f"(10 years), not {shown} — seconds after the trace's start"
    ]


#: A value outside the bounds of each numeric column, and what the message says of it.
OUTSIDE: dict[str, tuple[str, str]] = {
    "submit_s": ("315360001", "315360001"),
    "gang": ("1000001", "1000001"),
    "gang_max": ("1e7", "10000000"),
    "gang_min": ("1e7", "10000000"),
    "device_fraction": ("nan", "nan"),
    "duration_s": ("1e300", "1e+300"),
    "work_pflop": ("1e16", "1e+16"),
    "hbm_tb": ("inf", "inf"),
    "deadline_s": ("4e8", "400000000"),
    "checkpoint_interval_s": ("-1", "-1"),
    "restart_cost_s": ("-inf", "-inf"),
    "priority": ("1e300", "1e+300"),
}


@pytest.mark.parametrize("column", sorted(BOUNDS))
def test_every_numeric_column_is_finite_and_bounded(tmp_path: Path, column: str) -> None:
    value, shown = OUTSIDE[column]
    cells = {column: value}
    if column in ("work_pflop", "hbm_tb"):
        cells |= {"duration_s": "", "work_pflop": "5", "hbm_tb": "1", column: value}
    msgs = problems(one_row(tmp_path, **cells))
    assert len(msgs) == 1, msgs
    assert f"row 1, column {column}: must be {BOUNDS[column].text}, not {shown}" in msgs[0]


def test_values_at_the_bounds_are_kept(tmp_path: Path) -> None:
    p = one_row(
        tmp_path,
        submit_s=str(MAX_TIME_S),
        gang=str(MAX_GANG),
        gang_max=str(MAX_GANG),
        duration_s=str(MAX_TIME_S),
        deadline_s=str(MAX_TIME_S),
        checkpoint_interval_s=str(MAX_TIME_S),
        restart_cost_s=str(MAX_TIME_S),
        priority=str(-MAX_PRIORITY),
        measured_pflops="nvidia_h100_sxm5=10000",
    )
    row = read_trace(p).table.to_pylist()[0]
    assert row["gang"] == MAX_GANG and row["priority"] == -MAX_PRIORITY
    assert row["submit_s"] == MAX_TIME_S


def test_measured_speed_is_bounded(tmp_path: Path) -> None:
    msgs = problems(one_row(tmp_path, measured_pflops="nvidia_h100_sxm5=1e300"))
    assert "row 1, column measured_pflops: value of 'nvidia_h100_sxm5' must be" in msgs[0]
    assert "at most 10,000, got '1e300'" in msgs[0]


def test_every_bad_row_in_one_pass_with_a_count(tmp_path: Path) -> None:
    rows = ["x,lab,not-a-number,1,60,dl-training", "y,lab,0,0,60,dl-training"]
    rows += [f"z{i},lab,nan,1,60,dl-training" for i in range(60)]
    p = tmp_path / "t.csv"
    p.write_text(HEAD + "id,tenant,submit_s,gang,duration_s,profile\n" + "\n".join(rows) + "\n")
    msgs = problems(p)
    # a cell that is not a number and a rule broken elsewhere come out together
    assert any("row 1, column submit_s: 'not-a-number' is not a number" in m for m in msgs)
    assert any("row 2, column gang: must be ≥ 1 and ≤ 1,000,000, not 0" in m for m in msgs)
    assert any("row 3, column submit_s: must be a finite number" in m for m in msgs)
    assert len(msgs) == 41 and "… and 22 more problems" in msgs[-1]


def test_an_all_empty_id_column_is_a_missing_id_per_row(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(HEAD + "id,tenant,submit_s,gang,duration_s,profile\n" + ",lab,0,1,60,p\n" * 3)
    msgs = problems(p)
    for r in (1, 2, 3):
        assert f"{p}:{4 + r}: row {r}, column id: value is missing" in "\n".join(msgs)
    table = read_trace(one_row(tmp_path)).table
    for ids in (pa.nulls(1), pa.nulls(1, pa.string())):
        q = tmp_path / "t.parquet"
        meta = {b"suanli.format_version": b"1", b"suanli.reference": b"nvidia_h100_sxm5"}
        pq.write_table(table.set_column(0, "id", ids).replace_schema_metadata(meta), q)
        assert problems(q) == [f"{q}: row 1, column id: value is missing — every row needs a 'id'"]


def test_parquet_metadata_that_is_not_utf8(tmp_path: Path) -> None:
    table = read_trace(one_row(tmp_path)).table
    p = tmp_path / "t.parquet"
    meta = {b"suanli.format_version": b"1", b"suanli.reference": b"nvidia\xff", b"suanli.\xfe": b""}
    pq.write_table(table.replace_schema_metadata(meta), p)
    msgs = problems(p)
    assert msgs[0] == (
        f"{p}: metadata: the value of 'suanli.reference' is not UTF-8 text (byte 0xff at "
        "position 7) — write metadata keys and values as UTF-8 text"
    )
    assert "the key of 'suanli.\ufffd' is not UTF-8 text" in msgs[1]


def test_csv_cells_that_are_not_utf8_or_nul(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    body = "id,tenant,submit_s,gang,duration_s,profile\n"
    p.write_bytes(
        (HEAD + body).encode() + b"a,lab,0,1,60,dl-\xfftraining\nb,lab,0,1,6\x000,dl-training\n"
    )
    assert problems(p) == [
        f"{p}:5: row 1, column profile: byte 0xff is not UTF-8 text — save the file as UTF-8 text",
        f"{p}:6: row 2, column duration_s: a NUL byte is not text — save the file as UTF-8 text",
    ]


def test_a_file_of_another_kind(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    as_csv = tmp_path / "t.csv"
    as_csv.write_bytes(parquet_bytes(read_trace(good)))
    assert "this is a Parquet file, not CSV — name it .parquet" in problems(as_csv)[0]
    as_pq = tmp_path / "t.parquet"
    as_pq.write_text(GOOD)
    assert "it looks like CSV: name it .csv" in problems(as_pq)[0]
    utf16 = tmp_path / "u.csv"
    utf16.write_text(GOOD, "utf-16")
    assert f"{utf16}: the file is UTF-16 text — save it as UTF-8" in problems(utf16)[0]


def test_rows_of_the_wrong_length_name_their_lines(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(GOOD + "b,lab,0,1\nc,lab,0,1,60,dl-training,x\n")
    assert problems(p) == [
        f"{p}:6: row 2: 4 cells, but the header has 6 — every row needs as many cells as the "
        "header; quote cells holding commas",
        f"{p}:7: row 3: 7 cells, but the header has 6 — every row needs as many cells as the "
        "header; quote cells holding commas",
    ]


def test_a_header_without_its_line_end_is_an_empty_trace(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(HEAD + "id,tenant,submit_s,gang,duration_s,profile")
    assert len(read_trace(p)) == 0


def test_parquet_columns_of_foreign_types(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array(["a", "b"]).dictionary_encode(),  # read as its values
            "tenant": pa.array([b"lab", b"l\xffb"], pa.binary()),
            "submit_s": pa.array([0, 2**63 - 1], pa.int64()),
            "gang": pa.array([2**63 - 1, 1], pa.int64()),
            "duration_s": [60.0, float("nan")],
            "profile": ["dl-training", "dl-training"],
            "x_note": pa.array([[1], [2]], pa.list_(pa.int64())),
        }
    ).replace_schema_metadata({b"suanli.format_version": b"1", b"suanli.reference": b"nvidia_t4"})
    p = tmp_path / "t.parquet"
    pq.write_table(table, p)
    joined = "\n".join(problems(p))
    for expected in (
        "row 2, column tenant: not UTF-8 text: byte 0xff at position 2",
        "row 2, column submit_s: must be a finite number ≥ 0 and ≤ 315,360,000 (10 years), "
        "not 9.223372036854776e+18",
        "row 1, column gang: must be ≥ 1 and ≤ 1,000,000, not 9.223372036854776e+18",
        "row 2, column duration_s: must be a finite number > 0 and ≤ 315,360,000 (10 years), "
        "not nan",
        "column x_note: column 'x_note' has type list<element: int64>, which cannot be read",
    ):
        assert expected in joined, expected
    assert "column id" not in joined and "value is missing" not in joined


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("yesterday", "start 'yesterday' is not an ISO date-time"),
        ("2026", "start '2026' is not an ISO date-time"),
        ("9999-12-31T23:59:59", "start '9999-12-31T23:59:59' is not between 1970 and 2199"),
    ],
)
def test_start_metadata_is_a_date_time(tmp_path: Path, start: str, message: str) -> None:
    p = tmp_path / "t.csv"
    p.write_text(GOOD.replace("# reference:", f"# start: {start}\n# reference:"))
    assert problems(p) == [
        f"{p}: metadata: {message} — e.g. 2026-03-02T00:00:00+08:00 (the time of submit_s = 0), "
        "or leave it out"
        if "ISO" in message
        else f"{p}: metadata: {message} — give the date-time of submit_s = 0"
    ]


@pytest.mark.parametrize(
    ("fleet", "message"),
    [
        ("garbage", "'garbage' is not a fleet spec"),
        ("nvidia_h100_sxm5:99999999999999999992", "bad pool 'nvidia_h100_sxm5:9999"),
        ("nvidia_h100_sxm5:8:0", "bad pool 'nvidia_h100_sxm5:8:0'"),
        ("nope:8", "unknown accelerator 'nope'"),
    ],
)
def test_own_fleet_problems_name_the_trace(tmp_path: Path, fleet: str, message: str) -> None:
    p = tmp_path / "t.csv"
    p.write_text(GOOD.replace("# fleet: nvidia_h100_sxm5:16:8", f"# fleet: {fleet}"))
    with pytest.raises(InputError) as exc:
        replay(p, "own")
    text = str(exc.value)
    assert text.startswith(f"{p}: metadata fleet: ") and message in text, text


def test_target_load_cannot_stretch_arrivals_past_ten_years(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(GOOD + "b,lab,0.001,16,3e8,dl-training\n")
    with pytest.raises(InputError, match=r"the arrivals span .* more than 315,360,000"):
        replay(p, "own", target_load=0.5)
