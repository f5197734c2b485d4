"""`portal.db.named_rows`: a result's rows as named tuples, same values, same order."""

from sqlalchemy import literal, select, union_all

from portal.db import named_rows
from portal.extensions import db


def test_named_rows_keep_every_value_under_its_label(app):
    query = union_all(
        select(literal(1).label("id"), literal("Walk").label("title")),
        select(literal(2).label("id"), literal(None).label("title")),
    )
    with app.app_context():
        result = db.session.execute(query)
        rows = named_rows(result)
    assert [(r.id, r.title) for r in rows] == [(1, "Walk"), (2, None)]
    assert rows[0]._fields == ("id", "title")
    assert type(rows[0]) is type(rows[1])  # one type per set of labels, made once


def test_named_rows_of_an_empty_result(app):
    with app.app_context():
        assert named_rows(db.session.execute(select(literal(1).label("id")).where(False))) == []
