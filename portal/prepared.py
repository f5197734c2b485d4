"""Statements every request runs, compiled once per database and sent with the DB-API cursor.

`Connection.execute` does, per call, work that never changes for a constant
statement: it builds and hashes the compiled cache's key (a nested tuple as
large as the statement), processes the parameters, builds an execution
context and the result's metadata. py-spy on the entry POST under load put
that at 2.4 times the database's own time for the five statements a signed-in
POST runs, and at a fifth of the request (docs/benchmarks.md). `Prepared` pays
it once per database and then runs the same SQL with the same conversions.

What is the same as `connection.execute(statement, params)`:
- the SQL: SQLAlchemy compiles the statement for the connection's dialect;
- the values: each parameter goes through its type's bind processor and each
  column through its result processor (the ones SQLAlchemy itself uses);
- the transaction: it runs on the connection it is given (the request's);
- the events: `before_cursor_execute` and `after_cursor_execute` listeners see
  it as any statement (the suite counts statements with them);
- errors: the connection's own handler raises SQLAlchemy's exceptions
  (IntegrityError, OperationalError) and invalidates a lost connection.

What it refuses, when it first compiles: statements whose SQL depends on the
call (an expanding IN, parameters rendered into the SQL) and parameters
computed by a callable. An INSERT or UPDATE names its values with `.values()`
(SQLAlchemy would otherwise write the columns of each call's parameters), and
every parameter without a value of its own must be given. Rows are named
tuples (index or attribute access).

It reads what SQLAlchemy's compiler records about a statement (`positiontup`,
`bind_names`, `escaped_bind_names`, `_bind_processors`, `_result_columns`) and
calls two private methods (`TypeEngine._cached_result_processor`, the result
processor `Connection.execute` itself uses, and
`Connection._handle_dbapi_exception`). So SQLAlchemy takes patch releases only
(requirements.in), and tests/test_prepared.py compares every prepared
statement's SQL, parameters, rows and value types with `Connection.execute`'s,
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.base import Executable

Params = Mapping[str, Any]


class _Plan:
    """A statement compiled for one dialect: its SQL, how to bind, how to read."""

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise TypeError("Prepared needs SQL that does not depend on the call's parameters")
        self.dialect = dialect
        self.sql = compiled.string
        self.positional = compiled.positional
        processors = compiled._bind_processors
        escaped = compiled.escaped_bind_names or {}
        # Each parameter under the name the SQL uses (an anonymous one's is made up).
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        names = compiled.positiontup if compiled.positional else list(by_name)
        # Per placeholder: the name it is sent under, the caller's key, the
        # statement's own value (a literal in it) or none, and the processor.
        self.binds: list[tuple[str, str, Any, bool, Callable[[Any], Any] | None]] = []
        for name in names or ():
            bind = by_name[name]
            if bind.callable is not None:
                raise TypeError(f"Prepared cannot bind {bind.key!r}: its value is computed")
            required = bind.required
            self.binds.append(
                (escaped.get(name, name), bind.key, bind.value, required, processors.get(name))
            )
        self.columns = [(entry[0], entry[3]) for entry in compiled._result_columns]
        self.row = namedtuple("Row", [name for name, _ in self.columns], rename=True)  # type: ignore[misc]
        self.readers: list[Callable[[Any], Any] | None] | None = None

    def parameters(self, params: Params) -> tuple[Any, ...] | dict[str, Any]:
        # A positional statement lists a placeholder once per use, names repeating.
        values = []
        for _name, key, own, required, processor in self.binds:
            if key in params:
                value = params[key]
            elif required:
                raise KeyError(f"Prepared statement needs a value for {key!r}")
            else:
                value = own
            values.append(value if processor is None else processor(value))
        if self.positional:
            return tuple(values)
        return {bind[0]: value for bind, value in zip(self.binds, values, strict=True)}

    def read(self, description: Sequence[Any]) -> list[Callable[[Any], Any] | None]:
        """The result processors, matched to the cursor's columns by position (as SQLAlchemy)."""
        if len(description) != len(self.columns):
            raise RuntimeError(f"expected {len(self.columns)} columns, got {len(description)}")
        self.readers = [
            type_._cached_result_processor(self.dialect, column[1])
            for (_, type_), column in zip(self.columns, description, strict=True)
        ]
        return self.readers


class Prepared:
    """A constant statement (SELECT, INSERT, UPDATE, DELETE), run as `Connection.execute` would."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._plans: weakref.WeakKeyDictionary[Dialect, _Plan] = weakref.WeakKeyDictionary()
        self._last: _Plan | None = None

    def plan(self, dialect: Dialect) -> _Plan:
        plan = self._last
        if plan is None or plan.dialect is not dialect:
            plan = self._plans.get(dialect)
            if plan is None:
                plan = self._plans[dialect] = _Plan(self.statement, dialect)
            self._last = plan
        return plan

    def first(self, connection: Connection, params: Params) -> Any:
        """The first row (a named tuple), or None."""
        return self._run(connection, params, 1)

    def all(self, connection: Connection, params: Params) -> list[Any]:
        return self._run(connection, params, None)

    def scalar(self, connection: Connection, params: Params) -> Any:
        """The first column of the first row, or None."""
        row = self._run(connection, params, 1)
        return None if row is None else row[0]

    def execute(self, connection: Connection, params: Params | Sequence[Params]) -> None:
        """Run it for its effect: one set of parameters, or several as one executemany."""
        self._run(connection, params, 0)

    def _run(self, connection: Connection, params: Any, rows: int | None) -> Any:
        plan = self.plan(connection.dialect)
        many = not isinstance(params, Mapping)
        sent: Any = [plan.parameters(p) for p in params] if many else plan.parameters(params)
        sql = plan.sql
        cursor = connection.connection.cursor()
        try:
            for before in connection.dispatch.before_cursor_execute:
                sql, sent = before(connection, cursor, sql, sent, None, many)
            if many:
                cursor.executemany(sql, sent)
            else:
                cursor.execute(sql, sent)
            for after in connection.dispatch.after_cursor_execute:
                after(connection, cursor, sql, sent, None, many)
            if rows == 0:
                cursor.close()
                return None
            found = [cursor.fetchone()] if rows == 1 else cursor.fetchall()
            readers = plan.readers or plan.read(cursor.description)
            cursor.close()
        except BaseException as error:
            connection._handle_dbapi_exception(error, sql, sent, cursor, None)
        make = plan.row._make
        result = [
            make(
                [
                    value if reader is None else reader(value)
                    for reader, value in zip(readers, row, strict=True)
                ]
            )
            for row in found
            if row is not None
        ]
        if rows == 1:
            return result[0] if result else None
        return result
