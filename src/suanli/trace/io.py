"""Read and write traces as CSV or Parquet, byte-stably.

**CSV**: UTF-8; first the metadata as comment lines ``# key: value`` (the first
must be ``# format_version: 1`` or ``2``), then a header row and one row per job.
Empty cells are missing values. **Parquet**: the same columns; the metadata is
stored as schema metadata under keys ``suanli.<key>``.

Written files are canonical: in the lowest format version that holds the trace
(:attr:`Trace.version <suanli.trace.format.Trace.version>`: 1 unless a row names a
scaling model), all format columns of that version in the documented order, then
the ``x_`` user columns; metadata keys sorted (``format_version`` first);
numbers in shortest round-trip form; no timestamps. So the same trace always
gives byte-identical files, and CSV → Parquet → CSV (or the reverse) round-trips
exactly.

Reading never ends in a traceback: a file that is not UTF-8 text (or holds NUL
bytes), rows with the wrong number of cells, a damaged Parquet file or metadata
that is not UTF-8 are :class:`~suanli.errors.InputError` problems naming the file,
and the line, row and column where there are some.
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
from suanli.trace.format import FORMAT_VERSION, Trace, columns_of
from suanli.trace.schema import MAX_PROBLEMS, check_table

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


def sorted_meta(meta: Mapping[str, str], version: int = FORMAT_VERSION) -> list[tuple[str, str]]:
    """Metadata items in file order: ``format_version`` (``version``) first, then by key."""
    items = {**meta, "format_version": str(version)}
    return sorted(items.items(), key=lambda kv: (kv[0] != "format_version", kv[0]))


def file_table(trace: Trace) -> pa.Table:
    """The table as written: the columns of the trace's version, then the user columns."""
    version = trace.version
    dropped = [
        c.name
        for c in columns_of(FORMAT_VERSION)
        if c.since > version and c.name in trace.table.column_names
    ]
    return trace.table.drop_columns(dropped) if dropped else trace.table


def csv_bytes(trace: Trace) -> bytes:
    """The canonical CSV text of ``trace``."""
    head = "".join(f"# {k}: {v}\n" for k, v in sorted_meta(trace.meta, trace.version))
    table = file_table(trace)
    buf = io.BytesIO()
    if _needs_quotes(table):
        options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    else:
        head += ",".join(table.column_names) + "\n"
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    pacsv.write_csv(table, buf, write_options=options)
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
    items = sorted_meta(trace.meta, trace.version)
    meta = {f"{META_PREFIX}{k}".encode(): v.encode("utf-8") for k, v in items}
    table = file_table(trace).replace_schema_metadata(meta)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", write_statistics=False)
    return bytes(sink.getvalue().to_pybytes())


#: The first bytes of every Parquet file.
PARQUET_MAGIC = b"PAR1"

#: What a trace file is, for the hint of a file that is not one.
WHAT_A_TRACE_IS = (
    "a trace is UTF-8 CSV text starting with '# format_version: 1' (or 2; or a Parquet file "
    "named .parquet); convert a public trace with 'suanli trace convert SOURCE --from "
    "philly|openb|pollux|tiresias --out FILE'"
)


def _read_csv(p: Path) -> Trace:
    source = str(p)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError([Problem(source, "", f"cannot read the file: {exc}")]) from None
    if data.startswith(PARQUET_MAGIC):
        raise InputError(
            [
                Problem(
                    source,
                    "",
                    "this is a Parquet file, not CSV",
                    "name it .parquet: suanli reads the format from the suffix",
                )
            ]
        )
    _check_text(data, source)
    meta, body_start, n_comment = _split_comments(data, source)
    body = data[body_start:]
    if not body.strip():
        raise InputError(
            [Problem(source, "", "no header row", "after the '#' lines, write the column names")]
        )
    if not body.endswith(b"\n"):
        body += b"\n"  # Arrow reads no header that lacks its line end
    header_line = body.split(b"\n", 1)[0].decode("utf-8-sig").rstrip("\r")
    names = next(csv.reader([header_line]))
    bad_rows: list[pacsv.InvalidRow] = []

    def skip(row: pacsv.InvalidRow) -> str:
        bad_rows.append(row)
        return "skip"

    def read(threads: bool) -> pa.Table:
        bad_rows.clear()
        return pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(use_threads=threads),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=False,
                invalid_row_handler=skip,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    try:
        table = read(threads=True)
        if bad_rows:
            read(threads=False)  # one thread numbers the bad rows
    except pa.ArrowException as exc:
        raise InputError(
            [
                Problem(
                    source,
                    "",
                    f"not valid CSV: {str(exc).splitlines()[0]}",
                    "every row needs as many cells as the header; quote cells holding commas",
                )
            ]
        ) from None
    if bad_rows:
        raise InputError(_cell_count_problems(bad_rows, source, n_comment))
    return check_table(table, meta, source, first_line=n_comment + 2)


def _cell_count_problems(
    rows: list[pacsv.InvalidRow], source: str, n_comment: int
) -> list[Problem]:
    """A problem for each row with more or fewer cells than the header (capped)."""
    problems = [
        Problem(
            source,
            "" if row.number is None else f"row {row.number - 1}",
            f"{row.actual_columns} cell{'s' if row.actual_columns != 1 else ''}, "
            f"but the header has {row.expected_columns}",
            "every row needs as many cells as the header; quote cells holding commas",
            None if row.number is None else n_comment + row.number,
        )
        for row in rows[:MAX_PROBLEMS]
    ]
    if len(rows) > MAX_PROBLEMS:
        problems.append(
            Problem(source, "", f"… and {len(rows) - MAX_PROBLEMS:,} more rows", "fix these first")
        )
    return problems


def _check_text(data: bytes, source: str) -> None:
    """A CSV trace is UTF-8 text without NUL bytes. Raise an :class:`InputError` naming
    the lines (and, in the data rows, the row and column) of bytes that are not; a file
    whose metadata or header is not text is not a trace at all."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            [Problem(source, "", "the file is UTF-16 text", "save it as UTF-8; " + WHAT_A_TRACE_IS)]
        )
    bad = _bad_bytes(data, MAX_PROBLEMS + 1)
    if not bad:
        return
    header_end = _header_end(data)
    first = bad[0]
    if first < header_end:
        line = data.count(b"\n", 0, first) + 1
        raise InputError(
            [
                Problem(
                    source,
                    "",
                    f"not a text file: {_not_text(data, first)}",
                    WHAT_A_TRACE_IS,
                    line,
                )
            ]
        )
    header = data[data.rfind(b"\n", 0, header_end - 1) + 1 : header_end].decode("utf-8-sig")
    names = next(csv.reader([header.strip()]), [])
    header_line = data.count(b"\n", 0, header_end)
    problems = []
    for offset in bad[:MAX_PROBLEMS]:
        line = data.count(b"\n", 0, offset) + 1
        start = data.rfind(b"\n", 0, offset) + 1
        before = data[start:offset].decode("utf-8", errors="replace")
        j = len(next(csv.reader([before]), [""])) - 1 if before else 0
        column = names[j] if j < len(names) else f"#{j + 1}"
        problems.append(
            Problem(
                source,
                f"row {line - header_line}, column {column}",
                _not_text(data, offset),
                "save the file as UTF-8 text",
                line,
            )
        )
    if len(bad) > MAX_PROBLEMS:
        problems.append(
            Problem(source, "", "… and more bytes that are not text", "fix these first")
        )
    raise InputError(problems)


def _what_byte(data: bytes, offset: int) -> str:
    """What is wrong with the byte at ``offset``: a NUL, or a byte that is not UTF-8."""
    return "a NUL byte" if data[offset] == 0 else f"byte 0x{data[offset]:02x}"


def _not_text(data: bytes, offset: int) -> str:
    what = _what_byte(data, offset)
    return f"{what} is not text" if data[offset] == 0 else f"{what} is not UTF-8 text"


def _bad_bytes(data: bytes, limit: int) -> list[int]:
    """Offsets of the first ``limit`` bytes that are NUL or not UTF-8."""
    bad: list[int] = []
    pos = data.find(b"\0")
    while pos >= 0 and len(bad) < limit:
        bad.append(pos)
        pos = data.find(b"\0", pos + 1)
    pos = 0
    found = 0
    while found < limit:
        try:
            data[pos:].decode("utf-8")
            break
        except UnicodeDecodeError as exc:
            bad.append(pos + exc.start)
            found += 1
            pos += exc.end
    return sorted(bad)[:limit]


def _header_end(data: bytes) -> int:
    """The offset just past the header line (after the ``#`` lines)."""
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while data.startswith(b"#", pos):
        end = data.find(b"\n", pos)
        if end < 0:
            return len(data)
        pos = end + 1
    end = data.find(b"\n", pos)
    return len(data) if end < 0 else end + 1


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
    source = str(p)
    try:
        table = pq.read_table(p)
    except (OSError, pa.ArrowException, MemoryError) as exc:
        raise InputError(
            [
                Problem(
                    source,
                    "",
                    f"not a readable Parquet file: {' '.join(str(exc).split())}",
                    _parquet_hint(p),
                )
            ]
        ) from None
    meta, problems = _parquet_meta(table.schema.metadata or {}, source)
    if problems:
        raise InputError(problems)
    return check_table(table.replace_schema_metadata(None), meta, source)


def _parquet_hint(p: Path) -> str:
    """How to fix a file that does not read as Parquet."""
    try:
        with p.open("rb") as f:
            head = f.read(4096)
    except OSError:
        head = b""
    if head.startswith(b"#") or (b"," in head and b"\0" not in head):
        return "it looks like CSV: name it .csv (suanli reads the format from the suffix)"
    return "the file is damaged or not Parquet: write it again; " + WHAT_A_TRACE_IS


def _parquet_meta(raw: Mapping[bytes, bytes], source: str) -> tuple[dict[str, str], list[Problem]]:
    """The ``suanli.*`` schema metadata as text, and a problem for each key or value that
    is not UTF-8."""
    meta: dict[str, str] = {}
    problems: list[Problem] = []
    for k, v in raw.items():
        name = k.decode("utf-8", errors="replace")
        if not name.startswith(META_PREFIX):
            continue
        try:
            meta[k.decode("utf-8")[len(META_PREFIX) :]] = v.decode("utf-8")
        except UnicodeDecodeError as exc:
            what = "key" if _not_utf8(k) else "value"
            problems.append(
                Problem(
                    source,
                    "metadata",
                    f"the {what} of {name!r} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                    f"at position {exc.start + 1})",
                    "write metadata keys and values as UTF-8 text",
                )
            )
    return meta, problems


def _not_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
