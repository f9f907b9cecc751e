"""The demand file: round trip, validation (each error names the file and field), version
check, size bound, atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from suanli.errors import InputError
from suanli.workload import demand_file
from suanli.workload.demand import (
    Demand,
    LengthDist,
    RateCurve,
    RequestTrace,
    ServiceTrace,
    curve_of,
)
from suanli.workload.demand_file import (
    FORMAT,
    SUPPORTED_VERSIONS,
    format_demand,
    parse_demand,
    read_demand,
    write_demand,
)


def _demand() -> Demand:
    trace = RequestTrace(
        arrival_s=np.array([0.0, 0.1, 0.1 + 1e-7, 650.25, 1199.0]),
        input_tokens=np.array([120, 7, 4096, 33, 1]),
        output_tokens=np.array([1, 2, 300, 45, 6]),
        source="hand-made",
    )
    curve = RateCurve(
        service="chat",
        region="cn-east",
        window_s=600.0,
        rate_rps=(1.0, 2.5, 1 / 3, 0.0),
        cv=(1.0, 2.25, 0.0, 1.0),
        input_tokens=LengthDist((10, 20, 30), (0.1, 0.2, 0.7)),
        output_tokens=LengthDist((1,), (1.0,)),
        timezone="Asia/Shanghai",
        source="test",
    )
    return Demand(
        curves=(curve, curve_of(trace, "chat", "us-west", 600.0, "America/Los_Angeles")),
        requests=(ServiceTrace("chat", "us-west", trace),),
    )


def _doc() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(format_demand(_demand()))
    return result


def test_round_trip_is_byte_identical(tmp_path: Path) -> None:
    demand = _demand()
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_demand(demand, a)
    back = read_demand(a)
    write_demand(back, b)
    assert a.read_bytes() == b.read_bytes()
    assert back.curves == demand.curves
    got = back.trace("chat", "us-west")
    assert got is not None
    np.testing.assert_array_equal(got.arrival_s, demand.requests[0].trace.arrival_s)
    np.testing.assert_array_equal(got.input_tokens, demand.requests[0].trace.input_tokens)
    assert back.curve("chat", "cn-east") == demand.curves[0]
    assert back.services == ("chat",)


def test_same_demand_same_bytes() -> None:
    assert format_demand(_demand()) == format_demand(_demand())
    doc = _doc()
    assert doc["format"] == FORMAT and doc["version"] == 1
    assert list(doc["curves"][0]) == sorted(doc["curves"][0])


def _error(doc: object, tmp_path: Path) -> InputError:
    path = tmp_path / "demand.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError) as err:
        read_demand(path)
    for p in err.value.problems:
        assert p.source == str(path)
        assert p.hint
    return err.value


def _set(doc: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """``doc`` with the field at the dotted/indexed ``path`` set (``None`` deletes)."""
    parts: list[str | int] = []
    for part in path.replace("[", ".").replace("]", "").split("."):
        parts.append(int(part) if part.isdigit() else part)
    node: Any = doc
    for p in parts[:-1]:
        node = node[p]
    if value is None:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        ("curves[0].rate_rps[1]", -1.0, "curves[0].rate_rps[1]", "greater than or equal"),
        ("curves[0].rate_rps[2]", float("nan"), "curves[0].rate_rps[2]", "finite"),
        ("curves[0].rate_rps[2]", float("inf"), "curves[0].rate_rps[2]", "finite"),
        ("curves[0].cv[0]", -0.5, "curves[0].cv[0]", "greater than or equal"),
        ("curves[0].cv", [1.0], "curves[0].cv", "has 1 values but rate_rps has 4"),
        ("curves[0].window_s", 0, "curves[0].window_s", "greater than 0"),
        ("curves[0].timezone", "Mars/Olympus", "curves[0].timezone", "IANA"),
        ("curves[0].timezone", "../../etc/passwd", "curves[0].timezone", "IANA"),
        (
            "curves[0].input_tokens.probability",
            [0.1, 0.2, 0.6],
            "curves[0].input_tokens.probability",
            "sum to",
        ),
        (
            "curves[0].input_tokens.probability",
            [1.1, -0.1, 0.0],
            "curves[0].input_tokens.probability[1]",
            "greater than or equal",
        ),
        (
            "curves[0].input_tokens.probability",
            [0.5, 0.5],
            "curves[0].input_tokens.probability",
            "has 2 values but tokens has 3",
        ),
        (
            "curves[0].input_tokens.tokens",
            [0, 20, 30],
            "curves[0].input_tokens.tokens[0]",
            "greater than or equal to 1",
        ),
        (
            "curves[0].input_tokens.tokens",
            [10, 20.5, 30],
            "curves[0].input_tokens.tokens[1]",
            "integer",
        ),
        (
            "curves[0].input_tokens.tokens",
            [10, 30, 20],
            "curves[0].input_tokens.tokens",
            "ascending",
        ),
        ("curves[0].service", "", "curves[0].service", "at least 1"),
        ("curves[0].region", None, "curves[0].region", "missing"),
        ("curves[0].colour", "red", "curves[0].colour", "unknown field"),
        ("requests[0].arrival_s[2]", 0.0, "requests[0].arrival_s", "ascending"),
        ("requests[0].arrival_s[0]", float("nan"), "requests[0].arrival_s[0]", "finite"),
        (
            "requests[0].output_tokens",
            [1, 2],
            "requests[0].output_tokens",
            "has 2 values but arrival_s has 5",
        ),
        ("requests[0].input_tokens[3]", True, "requests[0].input_tokens[3]", "integer"),
        ("extra", 1, "extra", "unknown field"),
        ("format", "suanli-trace", "format", "expected 'suanli-demand'"),
    ],
)
def test_each_error_names_the_field(
    tmp_path: Path, path: str, value: object, field: str, words: str
) -> None:
    err = _error(_set(_doc(), path, value), tmp_path)
    assert any(p.field == field and words in p.message for p in err.problems), err


@pytest.mark.parametrize("version", [0, 2, "1", None, True, 1.5])
def test_unknown_version_names_supported(tmp_path: Path, version: object) -> None:
    err = _error(_set(_doc(), "version", version), tmp_path)
    (p,) = err.problems
    assert p.field == "version"
    assert "unsupported version" in p.message
    assert all(str(v) in p.message for v in SUPPORTED_VERSIONS)


def test_duplicate_service_region(tmp_path: Path) -> None:
    doc = _doc()
    doc["curves"].append(doc["curves"][0])
    err = _error(doc, tmp_path)
    assert err.problems[0].field == "curves[2]"
    assert "'chat'" in err.problems[0].message and "'cn-east'" in err.problems[0].message


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", '"demand"', "\u00ff\u00fe"])
def test_not_a_demand_document(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="latin-1")
    with pytest.raises(InputError) as err:
        read_demand(path)
    assert err.value.problems[0].source == str(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_demand(tmp_path / "nope.json")


def test_size_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.json"
    write_demand(_demand(), path)
    monkeypatch.setattr(demand_file, "MAX_BYTES", 100)
    with pytest.raises(InputError, match="more than the limit"):
        read_demand(path)


def test_write_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "demand.json"
    write_demand(_demand(), path)
    before = path.read_bytes()
    bad = _demand()
    broken = RateCurve(
        service="chat",
        region="cn-east",
        window_s=600.0,
        rate_rps=(float("nan"),),
        cv=(1.0,),
        input_tokens=LengthDist((1,), (1.0,)),
        output_tokens=LengthDist((1,), (1.0,)),
    )
    with pytest.raises(InputError) as err:
        write_demand(Demand(curves=(broken,), requests=bad.requests), path)
    assert err.value.problems[0].source == str(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["demand.json"]


def test_write_fails_cleanly_in_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_demand(_demand(), tmp_path / "no" / "demand.json")
    assert os.listdir(tmp_path) == []


def test_parse_names_the_source() -> None:
    with pytest.raises(InputError) as err:
        parse_demand('{"format": "suanli-demand", "version": 1, "curves": 3}', "inline")
    assert err.value.problems[0].source == "inline"
    assert err.value.problems[0].field == "curves"
