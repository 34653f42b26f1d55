"""File I/O: atomic writes, table reading with clear errors, content hashes."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from synthpipe import interrupt
from synthpipe.errors import InputError, LockHeld

TABLE_SUFFIXES = {".parquet", ".csv", ".jsonl", ".json"}


TEMP_SUFFIXES = (".tmp", ".old")  # what the atomic helpers leave beside a target only while they write it
MANIFEST_FILE = "manifest.json"


def _temp_prefix(dest: Path) -> str:
    # The writer's pid is part of the name: a later write of the same target can tell a temp left by a
    # killed writer (SIGKILL runs no cleanup) from one a live writer still uses.
    return f".{dest.name}.{os.getpid()}."


@contextlib.contextmanager
def temp_dir_beside(dest: str | Path) -> Iterator[Path]:
    """A scratch directory named as the atomic helpers name their temps, removed after the block: if its writer
    is killed, the next write of `dest` removes it."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with interrupt.held():  # a stop between creating it and naming it would leave it behind
        scratch = Path(tempfile.mkdtemp(prefix=_temp_prefix(dest), suffix=".tmp", dir=dest.parent)).resolve()
    try:
        yield scratch
    finally:
        with interrupt.held():
            shutil.rmtree(scratch, ignore_errors=True)


def sweep_stale_temps(dest: str | Path) -> None:
    """Remove temps of `dest` left by writers that died; if one died between the two renames of
    atomic_dir, put its previous version of `dest` back first."""
    dest = Path(dest)
    for temp in dest.parent.glob(f".{glob.escape(dest.name)}.*"):
        # Exactly .<name>.<pid>.<random><suffix>: the random part has no dot, so ".x.5.<pid>..." (target "x.5")
        # is never taken for a temp of "x".
        pid, _, random = temp.name[len(dest.name) + 2:-len(temp.suffix) or None].partition(".")
        if temp.suffix not in TEMP_SUFFIXES or not pid.isdigit() or not random or "." in random or _alive(int(pid)):
            continue
        if temp.suffix == ".old" and not dest.exists() and (temp / dest.name).exists():
            os.replace(temp / dest.name, dest)
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; rename it onto `dest` only if the block succeeds.

    The rename is atomic within one directory, so readers see the old file or the new one,
    never a half-written one.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(dest)
    with interrupt.held():  # a stop between creating the temp and naming it would leave it behind
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(dest), suffix=".tmp", dir=dest.parent)
        os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, dest)
    finally:
        with interrupt.held(), contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside `dest`; it replaces `dest` only if the block succeeds.

    A stage's several outputs thus appear together or not at all.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(dest)
    with interrupt.held():  # a stop between creating the temp and naming it would leave it behind
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(dest), suffix=".tmp", dir=dest.parent))
    old = None
    try:
        yield tmp
        with interrupt.held():  # the swap and the cleanup run whole; a stop signal waits for them
            if dest.exists():
                old = Path(tempfile.mkdtemp(prefix=_temp_prefix(dest), suffix=".old", dir=dest.parent))
                os.replace(dest, old / dest.name)
            os.replace(tmp, dest)
    finally:
        with interrupt.held():
            # An exception between the two renames (a full disk, say): the previous version goes back.
            if old is not None and not dest.exists() and (old / dest.name).exists():
                os.replace(old / dest.name, dest)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            shutil.rmtree(tmp, ignore_errors=True)


def write_manifest(directory: str | Path) -> None:
    """Record the SHA-256 and size of every file in `directory` in manifest.json (write it last)."""
    directory = Path(directory)
    files = sorted(path for path in directory.rglob("*") if path.is_file() and path.name != MANIFEST_FILE)
    entries = {path.relative_to(directory).as_posix(): {"sha256": file_hash(path), "bytes": path.stat().st_size}
               for path in files}
    write_json({"files": entries}, directory / MANIFEST_FILE)


def verify_manifest(directory: str | Path) -> None:
    """Fail naming the file unless every file manifest.json lists is present with its recorded size and hash."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST_FILE
    if not directory.is_dir():
        raise InputError(f"{directory}: no such model directory. Write one with `synthpipe fit` or the train stage.")
    if not manifest_path.is_file():
        raise InputError(f"{manifest_path}: missing, so the model files cannot be checked. Save the model again "
                         "(`synthpipe fit` or the train stage).")
    files = read_json(manifest_path).get("files")
    if not isinstance(files, dict) or not files:
        raise InputError(f"{manifest_path}: lists no files. Save the model again.")
    for name, expected in files.items():
        path = directory / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise InputError(f"{manifest_path}: lists '{name}', a path outside the model directory. "
                             "Save the model again.")
        if not path.is_file():
            problem = "is missing"
        elif path.stat().st_size != expected["bytes"]:
            problem = (f"has {path.stat().st_size} bytes, the manifest recorded {expected['bytes']} "
                       "(truncated or altered)")
        elif file_hash(path) != expected["sha256"]:
            problem = "was modified after the model was saved (its SHA-256 differs from the manifest)"
        else:
            continue
        raise InputError(f"{path}: {problem}. The model directory is damaged. Save the model again.")


@contextlib.contextmanager
def exclusive_lock(path: str | Path, holder: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block, or fail at once naming who holds it.

    An OS advisory lock (flock): it is released when the holder exits, even if it is killed.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise LockHeld(f"{path} is held by {handle.read().strip() or 'another process'}; "
                           "wait for it to finish") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{holder} (pid {os.getpid()})")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_parquet_chunks(chunks: Iterable[pd.DataFrame], path: str | Path) -> int:
    """Write DataFrames one after another as one Parquet file (row group by row group); returns the row count.

    Only one chunk is in memory at a time, and the file appears only once complete.
    """
    return write_arrow_chunks((pa.Table.from_pandas(chunk, preserve_index=False) for chunk in chunks), path)


def write_arrow_chunks(tables: Iterable[pa.Table], path: str | Path) -> int:
    """write_parquet_chunks for Arrow tables: each becomes the next row group(s) of one file, written atomically."""
    import pyarrow.parquet as pq

    rows, writer = 0, None
    with atomic_path(path) as tmp:
        try:
            for table in tables:
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                elif table.schema != writer.schema:  # e.g. an object column that is all null in this chunk
                    table = table.cast(writer.schema)
                writer.write_table(table)
                rows += table.num_rows
        finally:
            if writer is not None:
                writer.close()
    return rows


def concat_parquet(paths: Iterable[str | Path], path: str | Path) -> int:
    """Copy Parquet files, row group by row group, into one file at `path` (atomically); returns the row count."""
    import pyarrow.parquet as pq

    def row_groups() -> Iterator[pa.Table]:
        for part in paths:
            source = pq.ParquetFile(part)
            for i in range(source.num_row_groups):
                yield source.read_row_group(i)

    return write_arrow_chunks(row_groups(), path)


def write_csv_chunks(chunks: Iterable[pd.DataFrame], path: str | Path) -> int:
    """Like write_parquet_chunks, as CSV with one header line."""
    rows = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        for chunk in chunks:
            chunk.to_csv(handle, index=False, header=rows == 0)
            rows += len(chunk)
    return rows


def write_json(obj: Any, path: str | Path) -> None:
    write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", path)


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found (has the stage that writes it run?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON: {exc}") from None


def read_table(path: str | Path, parse_dates: list[str] = ()) -> pd.DataFrame:
    """Read Parquet (a file or a directory of partitions), CSV or JSON lines by suffix."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    suffix = ".parquet" if path.is_dir() else path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(f"{path}: unsupported file type '{suffix}' (expected one of {sorted(TABLE_SUFFIXES)})")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes). Write the table into it, with a header line for CSV.")
    try:
        _check_column_names(path, suffix)
        if suffix == ".parquet":
            df = pd.read_parquet(path)
        elif suffix == ".csv":
            df = pd.read_csv(path)
        else:
            df = pd.read_json(path, lines=True)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text ({_first_non_utf8(path)}). Save the file as UTF-8.") from None
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise InputError(f"{path}: cannot be read as {suffix[1:]}: {str(exc).strip()}. Check that the file is "
                         f"complete and really is {suffix[1:]}.") from None
    return parse_date_columns(df, parse_dates, source=str(path))


def _first_non_utf8(path: Path) -> str:
    """Where the first byte that is not UTF-8 is, for the error message (only read when there is one)."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"line {number}, byte {exc.start + 1} is 0x{line[exc.start]:02x}"
    return "a byte sequence UTF-8 does not allow"


def _check_column_names(path: Path, suffix: str) -> None:
    """Refuse a repeated column name as written in the file: pandas would rename it ("a", "a.1") or fail obscurely."""
    if suffix == ".csv":
        names = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
    elif suffix == ".parquet" and path.is_file():
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
    else:
        return
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(f"{path}: column name(s) {repeated} appear more than once. Give every column its own name.")


def parse_date_columns(df: pd.DataFrame, columns: list[str], source: str) -> pd.DataFrame:
    for column in columns:
        if column not in df.columns:
            raise InputError(f"{source}: parse_dates names column '{column}', which the data does not have")
        try:
            df[column] = pd.to_datetime(df[column])
        except (ValueError, TypeError) as exc:
            raise InputError(f"{source}: column '{column}' cannot be parsed as dates: {exc}") from None
    return df


def frame_hash(df: pd.DataFrame) -> str:
    """A content hash of a table: values, column names and dtypes, independent of file encoding."""
    return chunked_frame_hash([df], df.dtypes)


def chunked_frame_hash(chunks: Iterable[pd.DataFrame], dtypes: pd.Series) -> str:
    """frame_hash of the concatenation of `chunks` (row hashes do not depend on the other rows)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in dtypes.items()]).encode())
    for chunk in chunks:
        digest.update(pd.util.hash_pandas_object(chunk, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def parquet_dataset(path: str | Path):
    """A Parquet file or a directory of (hive) partitions as an Arrow dataset: read batch by batch, lazily."""
    import pyarrow.dataset as ds

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        # Partition keys as dictionaries, as pandas.read_parquet reads them (categories).
        return ds.dataset(path, format="parquet", partitioning=ds.HivePartitioning.discover(infer_dictionary=True))
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot be read as parquet: {exc}") from None


def parquet_file(path: str | Path):
    """One Parquet file, opened for reading by row group or batch; errors name the file."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found (has the stage that writes it run?)")
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot be read as parquet: {exc}") from None


BATCH_ROWS = 100_000  # rows per batch when streaming a table


def scan_batches(dataset, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The dataset's record batches in order, with little read-ahead: memory stays at a few batches."""
    return dataset.to_batches(columns=columns, batch_size=BATCH_ROWS, batch_readahead=2, fragment_readahead=1)


def pandas_probe(dataset) -> pd.DataFrame:
    """A row of the dataset converted the way pandas converts the whole table, without reading it all: a null
    turns an integer column into floats and a boolean one into objects, so only those columns are scanned."""
    schema = dataset.schema
    nullable = [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_boolean(f.type)]
    has_nulls = dict.fromkeys(nullable, False)
    if nullable:
        for batch in scan_batches(dataset, nullable):
            for name in nullable:
                has_nulls[name] |= batch.column(name).null_count > 0
    probe = dataset.head(1, batch_size=BATCH_ROWS, batch_readahead=1, fragment_readahead=1)
    for name in (name for name, nulls in has_nulls.items() if nulls):
        i = probe.schema.get_field_index(name)
        probe = probe.set_column(i, probe.schema.field(i), pa.nulls(probe.num_rows, probe.schema.field(i).type))
    return probe.to_pandas()


def file_hash(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def table_rows(path: str | Path) -> int:
    """Row count from Parquet metadata, without reading the data."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows
