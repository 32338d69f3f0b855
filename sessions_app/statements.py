"""Plain statements for the writes every session makes: its claim, its events, its fence, its finish.

A session's life is a handful of one-row writes, and Django's query
compilation costs more than the statements themselves. These build the same
SQL from the model's own metadata, adapt every value with the field's own
``get_db_prep_save`` (JSON, dates, UUIDs as the ORM would store them) and send
only parameters, never values, in the SQL text.
"""

import sqlite3

from django.db import connections


def _names(connection, model, values: dict) -> tuple[list[str], list]:
    """Quoted column names and database values for ``{field name: value}``."""
    meta = model._meta
    columns, params = [], []
    for name, value in values.items():
        field = meta.get_field(name)
        columns.append(connection.ops.quote_name(field.column))
        params.append(field.get_db_prep_save(value, connection))
    return columns, params


def _where(connection, model, where: dict) -> tuple[str, list]:
    columns, params = _names(connection, model, where)
    return " AND ".join(f"{c} = %s" for c in columns), params


def insert(alias: str, model, **values) -> int | None:
    """``INSERT`` one row of ``model`` with ``values`` (field names), through ``alias``.

    Return the new row's id where the driver tells it (SQLite), else ``None``.
    """
    connection = connections[alias]
    columns, params = _names(connection, model, values)
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(params))})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.lastrowid if connection.vendor == "sqlite" else None


def _new_values(instance) -> dict:
    """A new instance's column values as ``save()`` would take them (``pre_save``), its primary key aside."""
    meta = instance._meta
    return {f.attname: f.pre_save(instance, True) for f in meta.concrete_fields if f is not meta.pk}


def insert_instance(alias: str, instance) -> None:
    """Insert ``instance`` as a new row and set its primary key; ``save(force_insert=True)`` where no row id is told."""
    connection = connections[alias]
    if connection.vendor != "sqlite":
        instance.save(using=alias, force_insert=True)
        return
    instance.pk = insert(alias, type(instance), **_new_values(instance))
    instance._state.adding, instance._state.db = False, alias


def update(alias: str, model, where: dict, **values) -> int:
    """``UPDATE`` the rows of ``model`` matching ``where`` (equalities) with ``values``; return how many."""
    connection = connections[alias]
    columns, params = _names(connection, model, values)
    condition, where_params = _where(connection, model, where)
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"UPDATE {table} SET {', '.join(f'{c} = %s' for c in columns)} WHERE {condition}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params + where_params)
        return cursor.rowcount


def can_return(alias: str) -> bool:
    """Can this database return the row an ``UPDATE`` changed (PostgreSQL, SQLite 3.35+)?"""
    connection = connections[alias]
    if connection.vendor == "postgresql":
        return True
    return connection.vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 35)


def update_returning(alias: str, model, where: dict, **values):
    """``UPDATE ... RETURNING`` one row of ``model``: return it as an instance, or ``None`` if none matched.

    Only where ``can_return(alias)``.
    """
    connection = connections[alias]
    meta = model._meta
    fields = meta.concrete_fields
    columns, params = _names(connection, model, values)
    condition, where_params = _where(connection, model, where)
    table = connection.ops.quote_name(meta.db_table)
    returning = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sets = ", ".join(f"{c} = %s" for c in columns)
    sql = f"UPDATE {table} SET {sets} WHERE {condition} RETURNING {returning}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params + where_params)
        row = cursor.fetchone()
    if row is None:
        return None
    return _instance(connection, alias, model, fields, row)


def can_chain(alias: str) -> bool:
    """Can one statement update a row and insert another (PostgreSQL's data-modifying ``WITH``)?"""
    return connections[alias].vendor == "postgresql"


def update_and_insert(
    alias: str, model, where: dict, values: dict, child, link: str, child_values: dict, *, fetch=False
):
    """Update one row of ``model`` and insert a ``child`` row pointing to it, in one statement.

    ``link`` is the child's field holding the row's id. Return the updated row
    as an instance if ``fetch``, else its id; ``None`` if no row matched (then
    nothing is inserted). Only where ``can_chain(alias)``: one statement is one
    transaction and one round trip, where an update and an insert in a block
    are four.
    """
    connection = connections[alias]
    qn = connection.ops.quote_name
    meta = model._meta
    fields = meta.concrete_fields if fetch else [meta.pk]
    columns, params = _names(connection, model, values)
    condition, where_params = _where(connection, model, where)
    child_columns, child_params = _names(connection, child, child_values)
    returning = ", ".join(qn(f.column) for f in fields)
    sql = (
        f"WITH changed AS (UPDATE {qn(meta.db_table)} SET {', '.join(f'{c} = %s' for c in columns)} "  # noqa: S608
        f"WHERE {condition} RETURNING {returning}), "
        f"added AS (INSERT INTO {qn(child._meta.db_table)} ({qn(child._meta.get_field(link).column)}, "
        f"{', '.join(child_columns)}) SELECT {qn(meta.pk.column)}, {', '.join(['%s'] * len(child_params))} "
        f"FROM changed) SELECT {returning} FROM changed"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + where_params + child_params)
        row = cursor.fetchone()
    if row is None:
        return None
    if not fetch:
        return row[0]
    return _instance(connection, alias, model, fields, row)


def _instance(connection, alias: str, model, fields, row):
    """A model instance from a row of ``fields``, converted as the ORM converts what it reads."""
    meta = model._meta
    query = model._default_manager.db_manager(alias).all().query
    compiler = connection.ops.compiler("SQLCompiler")(query, connection, alias)
    converters = compiler.get_converters([f.get_col(meta.db_table) for f in fields])
    if converters:
        row = next(compiler.apply_converters([row], converters))
    return model.from_db(alias, [f.attname for f in fields], row)


def insert_and_insert(alias: str, instance, child, link: str, child_values: dict) -> int:
    """Insert ``instance`` (a new row) and a ``child`` row pointing to it, in one statement; return its id.

    Only where ``can_chain(alias)``. The instance's values are taken as ``save()``
    would take them (``pre_save``); its primary key is set.
    """
    connection = connections[alias]
    qn = connection.ops.quote_name
    meta = instance._meta
    columns, params = _names(connection, type(instance), _new_values(instance))
    child_columns, child_params = _names(connection, child, child_values)
    pk = qn(meta.pk.column)
    sql = (
        f"WITH added AS (INSERT INTO {qn(meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(params))}) RETURNING {pk}), "
        f"linked AS (INSERT INTO {qn(child._meta.db_table)} ({qn(child._meta.get_field(link).column)}, "
        f"{', '.join(child_columns)}) SELECT {pk}, {', '.join(['%s'] * len(child_params))} FROM added) "
        f"SELECT {pk} FROM added"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + child_params)
        instance.pk = cursor.fetchone()[0]
    instance._state.adding, instance._state.db = False, alias
    return instance.pk
