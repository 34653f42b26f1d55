"""Where real data comes from: files, SQL databases, and real example datasets shipped in packages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from synthpipe.config import SourceConfig
from synthpipe.errors import InputError
from synthpipe.io import parse_date_columns, read_json, read_table, write_json, write_parquet
from synthpipe.schema import schema_drift, snapshot


def _penguins() -> pd.DataFrame:
    # palmerpenguins ships its CSV inside the wheel: real, mixed-type, with nulls, no network.
    import palmerpenguins

    return palmerpenguins.load_penguins()


def _stocks() -> pd.DataFrame:
    # vega_datasets ships this CSV in its wheel: monthly closing prices of five tickers (123 months each, GOOG 68).
    from vega_datasets import local_data

    return local_data.stocks()


EXAMPLES: dict[str, Callable[[], pd.DataFrame]] = {"penguins": _penguins, "stocks": _stocks}
# The file suffixes each file format reads ("" is a directory of Parquet partitions).
SUFFIXES = {"csv": (".csv",), "parquet": (".parquet", ""), "jsonl": (".jsonl", ".json")}


def load_source(source: SourceConfig) -> pd.DataFrame:
    """Read the configured source into a DataFrame; errors name the file, URL or example."""
    if source.format == "example":
        if source.example not in EXAMPLES:
            raise InputError(f"data.source.example: unknown example '{source.example}' (known: {sorted(EXAMPLES)})")
        df = EXAMPLES[source.example]()
        return parse_date_columns(df, source.parse_dates, source=f"example '{source.example}'")
    if source.format == "sql":
        return _read_sql(source)
    return read_table(source_file(source), source.parse_dates)


def source_file(source: SourceConfig) -> Path:
    """The path of a file source, once its suffix agrees with data.source.format."""
    suffix = Path(source.path).suffix.lower()
    if source.format in SUFFIXES and suffix not in SUFFIXES[source.format]:
        raise InputError(f"data.source.path {source.path}: a '{suffix}' file, but data.source.format is "
                         f"'{source.format}'. Set the format that matches the file, or convert the file.")
    return Path(source.path)


def describe_source(source: SourceConfig) -> str:
    """How messages name the source: its file, its (password-free) URL or its example."""
    if source.format == "sql":
        return f"data.source.url {_redact(source.url)}"
    return source.path if source.format != "example" else f"example '{source.example}'"


def _read_sql(source: SourceConfig) -> pd.DataFrame:
    import sqlalchemy

    where = describe_source(source)
    try:
        engine = sqlalchemy.create_engine(source.url)
    except (sqlalchemy.exc.ArgumentError, ImportError) as exc:
        raise InputError(f"{where}: not a usable SQLAlchemy URL: {exc}") from None
    try:
        with engine.connect() as connection:
            df = pd.read_sql_query(sqlalchemy.text(source.query), connection)
    except (sqlalchemy.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ else exc
        raise InputError(f"{where}: query failed: {str(cause).splitlines()[0]}") from None
    finally:
        engine.dispose()
    return parse_date_columns(df, source.parse_dates, source=where)


def _redact(url: str) -> str:
    """Hide a password in a SQLAlchemy URL before it reaches a message or a log."""
    import sqlalchemy

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return "<unparseable url>"


def write_raw(df: pd.DataFrame, raw_path: Path, schema_path: Path, allow_drift: bool) -> dict:
    """Write the ingested table and its schema snapshot, unless its schema drifted from the last ingest's."""
    current = snapshot(df)
    check_drift(current, schema_path, allow_drift)
    write_parquet(df, raw_path)
    write_json(current, schema_path)
    return current


def check_drift(current: dict, schema_path: Path, allow_drift: bool) -> None:
    if schema_path.exists() and not allow_drift:
        changes = schema_drift(read_json(schema_path), current)
        if changes:
            raise InputError(f"schema drift since the last ingest ({schema_path}): " + "; ".join(changes)
                             + ". Set ingest.allow_schema_drift: true to accept the new schema.")
