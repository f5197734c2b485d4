"""The administrators' audit report: filters, a CSV streamed in batches, itself audited."""

from __future__ import annotations

import csv
import io
import math

import pytest
from sqlalchemy import select

from portal import audit
from portal.audit import report
from portal.audit.models import AuditEvent
from portal.extensions import db
from tests.conftest import PortalClient, text_of


@pytest.fixture()
def admin(demo, app) -> PortalClient:
    return demo.login("admin@example.com")  # the demo administrator (portal/admin/demo.py)


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_only_administrators_see_the_report(demo, admin):
    assert admin.get("/admin/audit").status_code == 200
    for email in ("rivera@example.com", "alex@example.com"):
        client = demo.login(email)
        assert client.get("/admin/audit").status_code == 404
        assert client.get("/admin/audit.csv").status_code == 404
    assert PortalClient(demo.app).get("/admin/audit").status_code == 302


def test_filters_by_patient_user_action_and_period(demo, app, admin):
    demo.login("chen@example.com").get(f"/p/{demo.alex}/plan")  # refused
    demo.login("rivera@example.com").get(f"/p/{demo.alex}/plan")
    page = text_of(
        admin.get(
            "/admin/audit",
            query_string={"patient": demo.alex, "user": demo.users["chen@example.com"]},
        )
    )
    assert "Dr. Casey Chen" in page and "refused http 404" in page
    assert "Dr. Riley Rivera" not in page
    rows = _csv(admin.get("/admin/audit.csv", query_string={"action": "refused"}))
    assert rows[0] == list(report.HEADER)
    assert [r[7] for r in rows[1:]] == ["refused"]
    assert rows[1][13] == f"GET /p/{demo.alex}/plan"
    old = admin.get("/admin/audit.csv", query_string={"since": "2020-01-01", "until": "2020-12-31"})
    assert len(_csv(old)) == 1  # the header only
    bad = admin.get("/admin/audit", query_string={"since": "2026-02-30"})
    assert bad.status_code == 422


def test_the_export_is_itself_audited(demo, app, admin):
    admin.get("/admin/audit.csv", query_string={"patient": demo.alex}).get_data()
    with app.app_context():
        export = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).one()
    assert (export.actor_id, export.relation, export.patient_id) == (
        demo.users["admin@example.com"],
        "admin",
        demo.alex,
    )


def test_cells_that_look_like_formulas_are_neutralised(demo, app, admin):
    with app.app_context():
        audit.record_event(None, "=HYPERLINK(1)", "+sum", path="-2+3", relation="@x")
        db.session.commit()
    rows = _csv(admin.get("/admin/audit.csv", query_string={"action": "=HYPERLINK(1)"}))
    assert rows[1][4] == "'@x" and rows[1][7] == "'=HYPERLINK(1)"
    assert rows[1][8] == "'+sum" and rows[1][13] == "'-2+3"
    assert report.safe_cell("\tx") == "'\tx" and report.safe_cell("plain") == "plain"


def test_the_csv_streams_in_batches_of_a_fixed_size(demo, app, admin, count_queries, monkeypatch):
    """A long trail is read a batch per query, never whole: the number of queries grows with
    the rows at one per batch, and each batch leaves nothing behind in the session."""
    with app.app_context():
        for _ in range(5):
            audit.record_rows(
                [
                    {
                        "actor_id": demo.users["rivera@example.com"],
                        "relation": "care_team",
                        "patient_id": demo.alex,
                        "action": "read",
                        "object_type": "care_plan",
                        "object_id": demo.alex,
                    }
                ]
                * 500
            )
            db.session.commit()
        total = db.session.scalar(select(db.func.count()).select_from(AuditEvent))
    size = 400
    monkeypatch.setattr(report, "BATCH", size)
    with count_queries() as counter:
        response = admin.get("/admin/audit.csv")
        assert response.is_streamed
        rows = _csv(response)
    assert len(rows) == 1 + total + 1  # the header, every row, and the export's own row
    reads = [s for s in counter.statements if "audit_events.id >" in s]
    assert len(reads) == math.ceil((total + 1) / size) + 1  # and the empty batch that ends it
