"""Parquet files: what Hugging Face datasets, pandas and Spark write, read a batch of rows at a time.

A Parquet file carries its own schema, so which mapping its rows take (plain, Alpaca, OpenAI
chat) is decided once from its column names (record_format). Values come out of pyarrow as
Python objects and are made JSON here: dates and times as ISO text, decimals as numbers that
keep their text (as an import's JSON numbers do), a map as a list of [key, value] pairs; NaN,
infinities and binary values fail their row, as they would in a JSON file.

The file must be read from its end (its footer holds the schema and where each row group lies),
so a file cut short is refused whole, before a row is read.
"""

from __future__ import annotations

import datetime
import decimal
import math
import uuid
from collections.abc import Iterator
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.pipeline import json_values
from curation.pipeline.bounded import DEFAULT_MAX_ROW_BYTES, too_large
from curation.pipeline.decoding import PARQUET_MAGIC
from curation.pipeline.errors import RowError, UnreadableFile
from curation.pipeline.readers import ReadItem

BATCH_ROWS = 4096
# Finch's own `hf_parquet` export (curation.services.version_exports): its `messages` column is
# the conversation made of `input`, `output` and the project's system prompt, so its rows are
# read as plain records (mapping.HF_RECORD_KEYS drops it), not as OpenAI chat.
HF_EXPORT_COLUMNS = frozenset(("id", "input", "output", "messages", "metadata"))


def is_parquet(head: bytes) -> bool:
    return head.startswith(PARQUET_MAGIC)


class ParquetRows:
    """A Parquet file's rows as (row number from 1, record) or (row number, RowError)."""

    def __init__(self, stream: IO[bytes]) -> None:
        try:
            self.file = pq.ParquetFile(stream)
        except (pa.ArrowException, OSError) as exc:
            raise UnreadableFile(
                "The file starts as Parquet but cannot be read as one: it may be cut short or "
                f"damaged ({_first_line(exc)})."
            ) from exc
        self.names: list[str] = list(self.file.schema_arrow.names)
        self.total = int(self.file.metadata.num_rows)
        self.read = 0
        if len(set(self.names)) < len(self.names):
            repeated = sorted({name for name in self.names if self.names.count(name) > 1})
            raise UnreadableFile(f"The Parquet file names the column {repeated[0]!r} twice.")

    def record_format(self) -> str:
        """The mapping its rows take, by the columns every row has."""
        columns = set(self.names) - {"external_id"}
        if "messages" in columns and not columns >= HF_EXPORT_COLUMNS:
            return "openai_chat"
        return "alpaca" if "instruction" in columns else "jsonl"

    def read_fraction(self) -> float:
        return self.read / self.total if self.total else 1.0

    def rows(self, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES) -> Iterator[ReadItem]:
        try:
            for batch in self.file.iter_batches(batch_size=BATCH_ROWS):
                yield from self._batch_rows(batch, max_row_bytes)
        except (pa.ArrowException, OSError) as exc:
            raise UnreadableFile(
                f"The Parquet file could not be read past row {self.read:,}: it may be damaged "
                f"({_first_line(exc)}). Nothing was imported."
            ) from exc

    def _batch_rows(self, batch: pa.RecordBatch, max_row_bytes: int) -> Iterator[ReadItem]:
        plain = [_is_plain(column.type) for column in batch.columns]
        columns = [column.to_pylist() for column in batch.columns]
        sizes = _row_bytes(batch, columns)
        for offset, values in enumerate(zip(*columns, strict=True)):
            self.read += 1
            if sizes[offset] > max_row_bytes:
                yield self.read, RowError(too_large(max_row_bytes))
                continue
            yield self.read, _record(self.names, values, plain)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _is_plain(kind: pa.DataType) -> bool:
    """Types whose Python values are JSON as they are: text, integers, booleans."""
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
    )


def _row_bytes(batch: pa.RecordBatch, values: list[list[Any]]) -> list[int]:
    """Each row's size, about as its JSON would take: text by its UTF-8 bytes (counted by arrow),
    nested values by their text, other values a few bytes."""
    sizes = [0] * batch.num_rows
    for column, column_values in zip(batch.columns, values, strict=True):
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind):
            lengths = pc.binary_length(column).fill_null(0).to_pylist()
        elif pa.types.is_nested(kind):
            lengths = [len(str(value)) for value in column_values]
        else:
            lengths = [8] * batch.num_rows
        sizes = [size + length for size, length in zip(sizes, lengths, strict=True)]
    return sizes


def _record(names: list[str], values: tuple[Any, ...], plain: list[bool]) -> dict[str, Any] | RowError:
    record: dict[str, Any] = {}
    for name, value, is_plain in zip(names, values, plain, strict=True):
        try:
            record[name] = value if is_plain else _json_value(value)
        except (RowError, json_values.UnstorableJSON) as exc:
            return RowError(f"Column {name!r} {exc}.")
    return record


def _json_value(value: Any) -> Any:
    """A pyarrow value as the JSON value an import record holds."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise json_values.UnstorableJSON(json_values.NOT_FINITE)
        return value
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, decimal.Decimal):
        return _decimal(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray):
        raise RowError("holds binary data, which an example cannot hold: store it as text")
    raise RowError(f"holds a {type(value).__name__} value, which has no JSON form")


def _decimal(value: decimal.Decimal) -> int | float:
    if not value.is_finite():
        raise json_values.UnstorableJSON(json_values.NOT_FINITE)
    text = str(value)
    if value == value.to_integral_value() and "." not in text and "E" not in text:
        return int(value)
    return json_values.float_text(text)
