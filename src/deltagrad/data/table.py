"""Read a table (a CSV file or a Parquet file) into columns of numbers, texts or dates.

The reading is Apache Arrow's (``pyarrow``): multi-threaded, typed column by column, a
fraction of the memory of a row-by-row reader (``bench/read_tables.py`` has the figures). It
is imported where it is used, so ``import deltagrad`` stays NumPy-only.

A CSV file has a header row; its delimiter (comma, semicolon, tab or pipe) is detected from
its first lines unless given; it is UTF-8 (with or without a byte-order mark) unless an
``encoding`` is given (``"latin-1"``, ``"cp1252"``, ...). Fields may be quoted, also over
several lines; cells are stripped of surrounding spaces; blank lines are skipped. A cell
that is empty or spells a missing value (``NA``, ``N/A``, ``null``, ``NaN``, ``?``,
``#N/A``, in any case) is missing. Each column becomes one of:

- ``number``: float64, NaN where missing (integers, decimals, a Parquet bool as 0/1);
- ``date``: days since 1970-01-01 as float64 (a time of day as a fraction), NaN where
  missing, for ISO 8601 dates and date-times (``2024-03-31``, ``2024-03-31T09:30:00``);
- ``text``: int32 codes into ``values``, the distinct texts, -1 where missing.

Rows with more or fewer fields than the header are set aside (``Table.bad_rows``) so that a
caller can report them together with every other problem of the file.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError

#: spellings of a missing cell, compared stripped and lower-cased
MISSING = frozenset({"", "na", "n/a", "null", "nan", "?", "#n/a"})
#: the same as Arrow matches them (exactly) while it parses; other cases are caught after
_ARROW_NULLS = ["", "NA", "na", "N/A", "n/a", "null", "NULL", "Null", "NaN", "nan", "NAN",
                "?", "#N/A"]
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
PARQUET_SUFFIXES = (".parquet", ".pq")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")
_SNIFF_BYTES = 1 << 16
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass
class Column:
    """One column: ``kind`` "number", "date" (``data`` float64, NaN missing) or "text"
    (``data`` int32 codes into ``values``, -1 missing)."""

    name: str
    kind: str
    data: np.ndarray
    values: list[str] = field(default_factory=list)

    @property
    def missing(self) -> np.ndarray:
        return self.data < 0 if self.kind == "text" else np.isnan(self.data)

    def texts(self, rows=None) -> np.ndarray:
        """The cells as strings (object array; missing cells ""), e.g. an id to copy out."""
        data = self.data if rows is None else self.data[rows]
        if self.kind == "text":
            return np.array(self.values + [""], dtype=object)[data]
        return np.array(["" if np.isnan(v) else number_text(v) for v in data], dtype=object)


def _show(cell: str) -> str:
    """A cell as it will read in a one-line message: quoted, escaped, and cut when long."""
    return repr(cell if len(cell) <= 40 else cell[:37] + "...")


def names_shown(names) -> str:
    """Column names for a one-line message: the first 20 quoted, then how many in all."""
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:20])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 20 else "")


def number_text(v: float) -> str:
    """A number as a person writes it: ``3`` for 3.0, ``0.5``."""
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 2 ** 53 else repr(v)


@dataclass
class Table:
    """The columns of a file, in the file's order, with where they came from (to name the
    line of a cell in a message)."""

    path: str
    columns: dict[str, Column]
    n_rows: int
    bad_rows: list[tuple[int, int]] = field(default_factory=list)  # (line, fields)
    header: list[str] = field(default_factory=list)  # every column of the file
    _csv: dict | None = None  # delimiter and encoding of a CSV file (None: not CSV)

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    @classmethod
    def from_numbers(cls, name: str, X: np.ndarray, names: list[str]) -> Table:
        """A table of number columns (a built-in data set)."""
        return cls(name, {n: Column(n, "number", np.asarray(X[:, j], dtype=np.float64))
                          for j, n in enumerate(names)}, len(X), header=list(names))

    def position(self, name: str) -> int:
        """The column's place in the file (1-based), as a spreadsheet counts."""
        return self.header.index(name) + 1

    def where(self, row: int) -> str:
        """``line 7`` (CSV: the physical line, blank lines and multi-line fields counted)
        or ``row 7`` (Parquet) for data row ``row`` (0-based)."""
        if self._csv is None:
            return f"row {row + 1}"
        return f"line {self.lines()[row]}"

    def lines(self) -> list[int]:
        """The line each data row starts on (messages only)."""
        return [line for line, _ in _records(self) if line > 0]

    def cell(self, row: int, name: str) -> str:
        """Data row ``row``'s cell of column ``name`` as the file spells it (messages
        only)."""
        if self._csv is None:
            return number_text(self.columns[name].data[row])
        kept = [record for line, record in _records(self) if line > 0]
        return kept[row][self.header.index(name)].strip()

    def cell_problem(self, row: int, name: str, what: str) -> str:
        """``line 7, column 2 ('age'): 'abc' is not a number (<what>)``: why the cell of data
        row ``row`` in column ``name`` is no usable number, as the file spells it."""
        cell = self.cell(row, name)
        number = parse_number(cell)
        if not cell:
            why = "empty cell"
        elif number is None:
            why = f"{_show(cell)} is not a number ({what})"
        elif not np.isfinite(number):
            why = f"{_show(cell)} is not a finite number"
        elif abs(number) > FLOAT32_MAX:
            why = f"{_show(cell)} is too large for float32"
        else:
            why = f"{_show(cell)} marks a missing value"
        return f"{self.where(row)}, column {self.position(name)} ({name!r}): {why}"

    def fingerprint(self) -> dict:
        """The file's content hash and the rows read: what a resumed run checks."""
        digest = hashlib.blake2b(digest_size=16)
        with open(self.path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return {"hash": digest.hexdigest(), "rows": self.n_rows}


# --- reading ---------------------------------------------------------------------------------


def read_table(path: str | os.PathLike, *, delimiter: str | None = None,
               encoding: str | None = None, columns: list[str] | None = None,
               text_columns: tuple[str, ...] = ()) -> Table:
    """Read ``path`` (``.parquet``/``.pq``: Parquet, anything else: CSV); see the module's
    docstring for what comes out. ``columns`` limits the reading to those (when they are
    there); ``text_columns`` are kept as text whatever they hold (an id, a column of
    category codes). Raises ``DataError`` (one line, naming the file) for a file that can
    not be read as a table.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "pets.csv"
    >>> _ = p.write_text("weight;kind;born\\n4,5;cat;2020-02-01\\n30;NA;2019-07-14\\n")
    >>> t = read_table(p)
    >>> [(c.name, c.kind) for c in t.columns.values()]
    [('weight', 'number'), ('kind', 'text'), ('born', 'date')]
    >>> t.columns["weight"].data.tolist(), t.columns["born"].data.tolist()
    ([4.5, 30.0], [18293.0, 18091.0])
    >>> t.columns["kind"].values, t.columns["kind"].data.tolist()
    (['cat'], [0, -1])
    """
    path = os.fspath(path)
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file")
    if p.is_dir():
        raise DataError(f"{path}: is a folder, expected a CSV or Parquet file")
    if p.suffix.lower() in PARQUET_SUFFIXES:
        return _read_parquet(path, columns, text_columns)
    return _read_csv(path, delimiter, _encoding(encoding), columns, text_columns)


def _encoding(encoding: str | None) -> str:
    if encoding is None:
        return "utf-8"
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r} (try utf-8, latin-1 or cp1252)") from None
    return "utf-8" if name in ("utf-8", "utf-8-sig") else name


def sniff_delimiter(sample: str) -> str:
    """The delimiter (of ``DELIMITERS``) that cuts the sample's lines into the same number of
    fields as its header, and into the most; a comma when none does better than one field."""
    lines = sample.splitlines()[:-1] or sample.splitlines()  # the last may be cut short
    best, best_width = ",", 1
    for candidate in DELIMITERS:
        records = [r for r in csv.reader(lines, delimiter=candidate) if r][:50]
        if not records:
            continue
        width = len(records[0])
        if width > best_width and all(len(r) == width for r in records):
            best, best_width = candidate, width
    return best


def _read_csv(path: str, delimiter: str | None, encoding: str, columns, text_columns) -> Table:
    import pyarrow as pa  # deferred: the reader of tables only (import deltagrad stays light)
    import pyarrow.csv as pacsv

    try:
        with open(path, "rb") as f:
            sample = f.read(_SNIFF_BYTES).decode(encoding, errors="replace").lstrip("\ufeff")
    except OSError as exc:
        raise DataError(f"{path}: can not be read ({exc.strerror or exc})") from None
    if not sample.strip():
        raise DataError(f"{path}: the file is empty (expected a header row, then one row per "
                        f"sample)")
    if delimiter is None:
        delimiter = sniff_delimiter(sample)
    header = next(csv.reader(io.StringIO(sample.lstrip("\r\n")), delimiter=delimiter))
    bad: list[str] = []

    def set_aside(row) -> str:
        if row.text.strip():  # a line of spaces is a blank line
            bad.append(row.text)
        return "skip"

    forced = {name: pa.dictionary(pa.int32(), pa.string()) for name in text_columns}
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                               invalid_row_handler=set_aside)
    read = pacsv.ReadOptions(encoding="utf8" if encoding == "utf-8" else encoding)
    wanted = [c for c in columns if c in (h.strip() for h in header)] if columns else None
    for _ in range(len(header) + 1):
        convert = pacsv.ConvertOptions(
            null_values=_ARROW_NULLS, strings_can_be_null=True, true_values=[],
            false_values=[], auto_dict_encode=True, auto_dict_max_cardinality=2 ** 31 - 1,
            column_types=forced,
            include_columns=[h for h in header if h.strip() in wanted] if wanted else None)
        bad.clear()
        try:
            arrow = pacsv.read_csv(path, read_options=read, parse_options=parse,
                                   convert_options=convert)
            break
        except pa.ArrowInvalid as exc:
            # Arrow guesses a column's type from its first block: a later cell that does not
            # fit names the column, which is then read again as text.
            found = re.search(r"In CSV column #(\d+)", str(exc))
            if found is None:
                raise DataError(_arrow_message(path, exc, encoding)) from None
            forced[header[int(found.group(1))].strip()] = pa.dictionary(pa.int32(), pa.string())
        except UnicodeDecodeError as exc:
            raise DataError(_utf8_message(path, encoding, exc.start)) from None
    names = [n.strip() for n in arrow.column_names]
    _check_header(path, names)
    table = Table(path, {}, arrow.num_rows, header=[h.strip() for h in header],
                  _csv={"delimiter": delimiter, "encoding": encoding})
    for name, chunked in zip(names, arrow.columns):
        table.columns[name] = _column(path, name, chunked, encoding, delimiter,
                                      keep_text=name in text_columns)
    if bad:
        table.bad_rows = [(-line, len(cells)) for line, cells in _records(table) if line < 0]
    return table


def _records(table: Table):
    """(line, cells) of every record of a CSV file after the header, read again with
    Python's csv module (for messages only): line > 0 for a row of the header's width
    (the line it starts on), -line for a row of another width."""
    csv_ = table._csv
    with open(table.path, newline="", encoding=csv_["encoding"], errors="replace") as f:
        reader = csv.reader(f, delimiter=csv_["delimiter"])
        end, first = 0, True
        for record in reader:
            start, end = end + 1, reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line
            if first:  # the header
                first = False
                continue
            yield (start if len(record) == len(table.header) else -start), record


def _read_parquet(path: str, columns, text_columns) -> Table:
    import pyarrow as pa  # deferred: the reader of tables only
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        wanted = [c for c in columns if c in schema.names] if columns else None
        arrow = pq.read_table(path, columns=wanted)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    names = [str(n).strip() for n in arrow.column_names]
    _check_header(path, names)
    table = Table(path, {}, arrow.num_rows, header=names)
    for name, chunked in zip(names, arrow.columns):
        if name in text_columns and not pa.types.is_dictionary(chunked.type):
            chunked = chunked.cast(pa.string()).dictionary_encode()
        table.columns[name] = _column(path, name, chunked, "utf-8", ",",
                                      keep_text=name in text_columns)
    return table


def _check_header(path: str, names: list[str]) -> None:
    for j, name in enumerate(names):
        if not name:
            raise DataError(f"{path}, line 1, column {j + 1}: empty column name in the header")
        if name in names[:j]:
            raise DataError(f"{path}, line 1, column {j + 1}: duplicate column name {name!r} "
                            f"(also column {names.index(name) + 1})")


def _arrow_message(path: str, exc, encoding: str) -> str:
    text = " ".join(str(exc).split())
    if "invalid UTF8" in text or "UTF-8" in text:
        return _utf8_message(path, encoding, None)
    if "Empty CSV file" in text:
        return f"{path}: the file is empty (expected a header row, then one row per sample)"
    return f"{path}: malformed CSV ({text[:200]})"


def _utf8_message(path: str, encoding: str, where) -> str:
    at = f" (byte {where} can not be decoded)" if where is not None else ""
    if encoding != "utf-8":
        return f"{path}: not {encoding} text{at}"
    return (f"{path}: not UTF-8 text{at}; if it is Latin-1 or Windows-1252, give its encoding "
            f"(--encoding latin-1)")


# --- Arrow columns -> deltagrad's --------------------------------------------------------------


def _column(path: str, name: str, chunked, encoding: str, delimiter: str,
            keep_text: bool = False) -> Column:
    import pyarrow as pa  # deferred: the reader of tables only
    import pyarrow.compute as pc

    t = chunked.type
    if pa.types.is_dictionary(t):
        if pa.types.is_binary(t.value_type):
            raise DataError(_utf8_message(path, encoding, None) + f" (column {name!r})")
        return _text_column(name, chunked, delimiter, keep_text)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        raise DataError(_utf8_message(path, encoding, None) + f" (column {name!r})")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _text_column(name, chunked.dictionary_encode(), delimiter, keep_text)
    if pa.types.is_null(t):
        return Column(name, "number", np.full(len(chunked), np.nan))
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        seconds = pc.cast(pc.cast(chunked, pa.timestamp("ms")), pa.int64())
        return Column(name, "date", _float64(seconds) / 86_400_000)
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t) \
            or pa.types.is_decimal(t):
        return Column(name, "number", _float64(chunked))
    raise DataError(f"{path}: column {name!r} holds {t} values, which deltagrad can not use; "
                    f"leave it out (--drop {name})")


def _float64(chunked) -> np.ndarray:
    """float64 values with NaN for nulls (a view of Arrow's buffer where it can be)."""
    import pyarrow as pa  # deferred: the reader of tables only

    if not pa.types.is_floating(chunked.type) or chunked.type.bit_width != 64:
        chunked = chunked.cast(pa.float64())
    data = chunked.to_numpy()
    return data if data.dtype == np.float64 else data.astype(np.float64)


def _clean(text: str) -> str:
    """A cell as a user sees it: no surrounding spaces (nor one pair of quotes that spaces
    kept the CSV reader from taking away)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return text


def _text_column(name: str, chunked, delimiter: str, keep_text: bool) -> Column:
    """Codes and distinct values from a dictionary-encoded column, cells cleaned and
    missing spellings taken out; a column whose every value reads as a number (or as an
    ISO date) becomes a number (date) column."""
    chunked = chunked.unify_dictionaries()
    raw = chunked.chunk(0).dictionary.to_pylist() if chunked.num_chunks else []
    codes = np.concatenate([c.indices.fill_null(-1).to_numpy(zero_copy_only=False)
                            for c in chunked.chunks]) if chunked.num_chunks else \
        np.empty(0, np.int32)
    cleaned = [_clean(v) for v in raw]
    values = sorted({v for v in cleaned if v.lower() not in MISSING})
    index = {v: k for k, v in enumerate(values)}
    remap = np.array([index.get(v, -1) for v in cleaned] + [-1], dtype=np.int32)
    codes = remap[codes.astype(np.int64, copy=False)]  # -1 stays -1 (the last entry)
    numbers = None if keep_text else _as_numbers(values, delimiter)
    if numbers is not None:
        return Column(name, "number", np.append(numbers, np.nan)[codes])
    days = None if keep_text else _as_days(values)
    if days is not None:
        return Column(name, "date", np.append(days, np.nan)[codes])
    return Column(name, "text", codes, values)


def parse_number(text: str, delimiter: str = ",") -> float | None:
    """``text`` as a float, or None; with a delimiter other than the comma, a decimal comma
    reads too (``3,5`` is 3.5 in a semicolon-separated file)."""
    try:
        return float(text)
    except ValueError:
        pass
    if delimiter != "," and text.count(",") == 1 and "." not in text:
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return None
    return None


def _as_numbers(values: list[str], delimiter: str) -> np.ndarray | None:
    out = np.empty(len(values))
    for k, v in enumerate(values):
        number = parse_number(v, delimiter)
        if number is None:
            return None
        out[k] = number
    return out


def _as_days(values: list[str]) -> np.ndarray | None:
    if not values or not all(_ISO_DATE.fullmatch(v) for v in values):
        return None
    try:
        stamps = np.array([v.replace(" ", "T") for v in values], dtype="datetime64[ms]")
    except ValueError:
        return None
    return stamps.astype(np.int64) / 86_400_000
