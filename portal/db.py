"""Declarative base with a constraint naming convention, and shared column helpers."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import DateTime, MetaData, Table, TypeDecorator
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.types import JSON

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def insert_ignoring_duplicates(table: Table, dialect: str):
    """The dialect's INSERT that offers `on_conflict_do_nothing()` (SQLite and PostgreSQL)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no INSERT ... ON CONFLICT for {dialect}")


@lru_cache(maxsize=128)
def _row_type(keys: tuple[str, ...]) -> type:
    return namedtuple("Row", keys)  # built from a result's keys at run time


def named_rows(result: Any) -> list[Any]:
    """A result's rows as named tuples, for code that reads many fields of many rows.

    A SQLAlchemy `Row` answers `row.name` in about 1 us (a lookup by key each
    time); a named tuple in a tenth of that, which on a 50-row list page of
    twenty fields is about a millisecond.
    """
    make = _row_type(tuple(result.keys()))._make
    rows: Iterable[Any] = result
    return [make(row) for row in rows]


class json_rows(GenericFunction):
    """An aggregate: the group's rows as one JSON array of arrays, `[[a, b], ...]`.

    For a few rows read beside one row (a goal's kept days with the goal): one
    statement, and no repeating the outer row's columns once per inner row.
    Dates come out as ISO strings on both databases (SQLite stores them so;
    PostgreSQL's JSON writes them so whatever its DateStyle). No rows: NULL on
    PostgreSQL, `[]` on SQLite.
    """

    type = JSON()
    inherit_cache = True


@compiles(json_rows, "sqlite")
def _json_rows_sqlite(element: json_rows, compiler: Any, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "postgresql")
def _json_rows_postgresql(element: json_rows, compiler: Any, **kw: Any) -> str:
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))"


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (call it; never evaluate at import)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always hands back an aware datetime, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base for every model."""

    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )
