"""Read and write traces as CSV or Parquet, byte-stably.

**CSV**: UTF-8; first the metadata as comment lines ``# key: value`` (the first
must be ``# format_version: 1``), then a header row and one row per job. Empty
cells are missing values. **Parquet**: the same columns; the metadata is stored
as schema metadata under keys ``suanli.<key>``.

Written files are canonical: all format columns in the documented order, then
the ``x_`` user columns; metadata keys sorted (``format_version`` first);
numbers in shortest round-trip form; no timestamps. So the same trace always
gives byte-identical files, and CSV → Parquet → CSV (or the reverse) round-trips
exactly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from suanli.errors import InputError, Problem
from suanli.trace.format import FORMAT_VERSION, Trace
from suanli.trace.schema import check_table

META_PREFIX = "suanli."
PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet(path: str | Path) -> bool:
    """Whether ``path`` names a Parquet file (by its suffix)."""
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def read_trace(path: str | Path) -> Trace:
    """Read and check a trace file (``.csv`` or ``.parquet``); raises InputError."""
    p = Path(path)
    if not p.is_file():
        raise InputError(
            [Problem(str(p), "", "no such trace file", "give the path of a .csv or .parquet trace")]
        )
    return _read_parquet(p) if is_parquet(p) else _read_csv(p)


def write_trace(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` canonically to ``path`` (format from the suffix); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if is_parquet(p):
        p.write_bytes(parquet_bytes(trace))
    else:
        p.write_bytes(csv_bytes(trace))
    return p


def sorted_meta(meta: Mapping[str, str]) -> list[tuple[str, str]]:
    """Metadata items in file order: ``format_version`` first, then by key."""
    items = {**meta, "format_version": str(FORMAT_VERSION)}
    return sorted(items.items(), key=lambda kv: (kv[0] != "format_version", kv[0]))


def csv_bytes(trace: Trace) -> bytes:
    """The canonical CSV text of ``trace``."""
    head = "".join(f"# {k}: {v}\n" for k, v in sorted_meta(trace.meta))
    buf = io.BytesIO()
    if _needs_quotes(trace.table):
        options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    else:
        head += ",".join(trace.table.column_names) + "\n"
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    pacsv.write_csv(trace.table, buf, write_options=options)
    return head.encode("utf-8") + buf.getvalue()


def _needs_quotes(table: pa.Table) -> bool:
    """Whether any string cell holds a comma, a quote or a line break."""
    for name, col in zip(table.column_names, table.columns, strict=True):
        if (
            pa.types.is_string(col.type)
            and pc.any(pc.match_substring_regex(col, r'[,"\r\n]')).as_py()
        ):
            return True
        if any(ch in name for ch in ',"\r\n'):
            return True
    return False


def parquet_bytes(trace: Trace) -> bytes:
    """The canonical Parquet bytes of ``trace``."""
    meta = {f"{META_PREFIX}{k}".encode(): v.encode("utf-8") for k, v in sorted_meta(trace.meta)}
    table = trace.table.replace_schema_metadata(meta)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", write_statistics=False)
    return bytes(sink.getvalue().to_pybytes())


def _read_csv(p: Path) -> Trace:
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError([Problem(str(p), "", f"cannot read the file: {exc}")]) from None
    meta, body_start, n_comment = _split_comments(data, str(p))
    body = data[body_start:]
    if not body.strip():
        raise InputError(
            [Problem(str(p), "", "no header row", "after the '#' lines, write the column names")]
        )
    header_line = body.split(b"\n", 1)[0].decode("utf-8-sig").rstrip("\r")
    names = next(csv.reader([header_line]))
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(use_threads=True),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise InputError(
            [
                Problem(
                    str(p),
                    "",
                    f"not valid CSV: {exc}",
                    "every row needs as many cells as the header; quote cells holding commas",
                )
            ]
        ) from None
    return check_table(table, meta, str(p), first_line=n_comment + 2)


def _split_comments(data: bytes, source: str) -> tuple[dict[str, str], int, int]:
    """Metadata from the leading ``# key: value`` lines; offset of the header; line count."""
    meta: dict[str, str] = {}
    pos = 0
    lines = 0
    if data.startswith(b"\xef\xbb\xbf"):
        pos = 3
    while data.startswith(b"#", pos):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        line = data[pos + 1 : end].decode("utf-8", errors="replace").strip()
        lines += 1
        key, sep, value = line.partition(":")
        if line and not sep:
            raise InputError(
                [
                    Problem(
                        source,
                        "metadata",
                        f"comment line {line!r} is not 'key: value'",
                        "write metadata as '# key: value'",
                        lines,
                    )
                ]
            )
        if key.strip():
            meta[key.strip()] = value.strip()
        pos = end + 1
    return meta, pos, lines


def _read_parquet(p: Path) -> Trace:
    try:
        table = pq.read_table(p)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError([Problem(str(p), "", f"not a readable Parquet file: {exc}")]) from None
    raw_meta = table.schema.metadata or {}
    meta = {
        k.decode()[len(META_PREFIX) :]: v.decode("utf-8")
        for k, v in raw_meta.items()
        if k.decode(errors="replace").startswith(META_PREFIX)
    }
    return check_table(table.replace_schema_metadata(None), meta, str(p))
