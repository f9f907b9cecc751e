"""The trace format: reading, canonical writing, byte-stable round trips, the schema check."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.errors import InputError
from suanli.trace import read_trace, write_trace
from suanli.trace.format import COLUMN_NAMES, format_map, parse_list, parse_map


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, "utf-8")
    return p


def problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as exc:
        read_trace(path)
    return [str(p) for p in exc.value.problems]


def test_example_reads_with_defaults_and_extras(fixtures: Path) -> None:
    t = read_trace(fixtures / "suanli" / "example.csv")
    assert len(t) == 4
    assert t.table.column_names[: len(COLUMN_NAMES)] == list(COLUMN_NAMES)
    assert t.extras == ("x_team",)
    assert t.meta["reference"] == "nvidia_h100_sxm5"
    row = t.table.slice(2, 1).to_pylist()[0]
    assert row["device_fraction"] == 0.25 and row["deferrable"] is None


def test_round_trip_is_byte_stable(fixtures: Path, tmp_path: Path) -> None:
    t = read_trace(fixtures / "suanli" / "example.csv")
    a_csv = write_trace(t, tmp_path / "a.csv")
    a_pq = write_trace(read_trace(a_csv), tmp_path / "a.parquet")
    b_csv = write_trace(read_trace(a_pq), tmp_path / "b.csv")
    b_pq = write_trace(read_trace(b_csv), tmp_path / "b.parquet")
    assert a_csv.read_bytes() == b_csv.read_bytes()
    assert a_pq.read_bytes() == b_pq.read_bytes()
    again = write_trace(t, tmp_path / "c.csv")
    assert again.read_bytes() == a_csv.read_bytes()
    assert read_trace(b_pq).table.equals(t.table)


def test_canonical_csv_text(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "# format_version: 1\n# reference: nvidia_t4\n"
        "profile,id,tenant,submit_s,gang,duration_s,accepted_types\n"
        "dl-training,a,lab,1.50,1,60.0, nvidia_t4 | nvidia_t4|nvidia_a10\n",
    )
    text = write_trace(read_trace(p), tmp_path / "out.csv").read_text()
    lines = text.splitlines()
    assert lines[0] == "# format_version: 1"
    assert lines[2].startswith("id,tenant,submit_s,gang,")
    assert lines[3].startswith("a,lab,1.5,1,,,60,")
    assert "nvidia_t4|nvidia_a10" in lines[3]


def test_quotes_only_when_needed(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "# format_version: 1\n# reference: nvidia_t4\n"
        "id,tenant,submit_s,gang,duration_s,profile,x_note\n"
        'a,lab,0,1,60,dl-training,"one, two"\n',
    )
    out = write_trace(read_trace(p), tmp_path / "o.csv")
    assert '"one, two"' in out.read_text()
    assert read_trace(out).column("x_note") == ["one, two"]


def test_version_is_required(tmp_path: Path) -> None:
    p = write(tmp_path, "id,tenant,submit_s,gang,duration_s,profile\n")
    assert any("no format_version" in m for m in problems(p))
    p = write(tmp_path, "# format_version: 7\nid,tenant,submit_s,gang,duration_s,profile\n")
    assert any("'7' is not supported" in m for m in problems(p))


def test_bad_rows_name_line_row_and_column(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "# format_version: 1\n"
        "id,tenant,submit_s,gang,gang_max,device_fraction,duration_s,reference,kind,profile\n"
        "j1,Lab,-1,0,,,3600,nvidia_t4,,dl-training\n"
        "j1,lab,3,2,1,0.5,,,trainer,dl-training\n"
        "j3,lab,5,1,,1.5,10,,,\n",
    )
    msgs = problems(p)
    joined = "\n".join(msgs)
    for expected in (
        f"{p}:3: row 1, column tenant: 'Lab' is not a valid id",
        f"{p}:5: row 3, column profile: value is missing",
        f"{p}:3: row 1, column id: id 'j1' is used by more than one row",
        f"{p}:4: row 2, column kind: unknown kind 'trainer'",
        f"{p}:3: row 1, column submit_s: must be a finite number ≥ 0",
        f"{p}:3: row 1, column gang: must be ≥ 1",
        f"{p}:4: row 2, column gang_max: must be ≥ gang",
        f"{p}:5: row 3, column device_fraction: must be in (0, 1]",
        f"{p}:4: row 2, column device_fraction: a fractional job must have gang 1",
        f"{p}:4: row 2, column duration_s: give exactly one of duration_s and work_pflop",
        f"{p}:5: row 3, column reference: a duration needs a reference accelerator",
    ):
        assert expected in joined, expected


def test_unparsable_cells(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "# format_version: 1\n# reference: nvidia_t4\n"
        "id,tenant,submit_s,gang,duration_s,profile,deferrable,measured_pflops\n"
        "a,lab,x,2.5,60,dl-training,maybe,nvidia_t4\n",
    )
    joined = "\n".join(problems(p))
    assert "row 1, column submit_s: 'x' is not a number" in joined
    assert "row 1, column gang: 2.5 is not a whole number" in joined
    assert "row 1, column deferrable: 'maybe' is not true or false" in joined
    assert "row 1, column measured_pflops: entry 'nvidia_t4' is not 'accelerator=value'" in joined


def test_unknown_and_missing_columns(tmp_path: Path) -> None:
    p = write(tmp_path, "# format_version: 1\nid,tenant,submit,gang,profile\n")
    joined = "\n".join(problems(p))
    assert "unknown column 'submit' — did you mean 'submit_s'?" in joined
    assert "required column 'submit_s' is missing" in joined


def test_problems_are_capped(tmp_path: Path) -> None:
    rows = "".join(f"j{i},lab,0,0,60,dl-training\n" for i in range(100))
    p = write(
        tmp_path,
        "# format_version: 1\n# reference: nvidia_t4\n"
        "id,tenant,submit_s,gang,duration_s,profile\n" + rows,
    )
    msgs = problems(p)
    assert len(msgs) == 41 and "… and 60 more problems" in msgs[-1]


def test_list_and_map_cells() -> None:
    assert parse_list(" a | b|a||") == ("a", "b")
    assert parse_map("b=0.5|a=1e-3") == {"a": 0.001, "b": 0.5}
    assert format_map({"b": 0.5, "a": 0.001}) == "a=0.001|b=0.5"
    with pytest.raises(ValueError, match="positive"):
        parse_map("a=-1")


def test_missing_file(tmp_path: Path) -> None:
    assert "no such trace file" in problems(tmp_path / "nope.csv")[0]


def test_parquet_with_wrong_column_types(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pa.table(
        {
            "id": ["a", "b"],
            "tenant": ["lab", "lab"],
            "submit_s": pa.array([0, 5], pa.int32()),  # ints are fine for a float column
            "gang": pa.array([1.0, 2.5]),  # 2.5 is not a whole number
            "duration_s": [3.0, 4.0],
            "profile": ["dl-training", "dl-training"],
            "measured_pflops": pa.array(
                [[("nvidia_t4", 0.1)], None], pa.map_(pa.string(), pa.float64())
            ),
        }
    ).replace_schema_metadata({b"suanli.format_version": b"1", b"suanli.reference": b"x"})
    p = tmp_path / "user.parquet"
    pq.write_table(t, p)
    joined = "\n".join(problems(p))
    assert "row 2, column gang: 2.5 is not a whole number" in joined
    assert "column 'measured_pflops' has type map<string, double" in joined
    assert "store it as string" in joined
