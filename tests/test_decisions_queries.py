"""Decision pages cost the same whatever the number of decisions, options, answers or messages."""

from __future__ import annotations

import re
from datetime import date, timedelta

from portal import pagecache
from portal.decisions import outcome, services
from portal.extensions import db
from tests.conftest import chain_statements, text_of
from tests.factories import Clinic
from tests.test_decisions import clinic  # noqa: F401  (fixture)


def _decisions(c, n: int, *, options: int = 2, messages: int = 0, decided: bool = False):
    """`n` decisions for Alex, through the services; their ids."""
    ids = []
    with c.app.app_context():
        rivera = c._access(c.rivera.id, c.alex.id)
        alex = c._access(c.alex.user.id, c.alex.id)
        for i in range(n):
            decision = services.open_decision(
                rivera,
                {
                    "question": f"Question {i}",
                    "decide_by": (date.today() + timedelta(days=5 + i)).isoformat(),
                    "options": [
                        {"title": f"Option {k}", "risks": "Some", "benefits": "Others"}
                        for k in range(options)
                    ],
                },
            )
            db.session.flush()
            ids.append(decision.id)
            yes_no = {"sure": True, "understand": i % 2 == 0, "risk_benefit": True}
            services.answer_sure(alex, decision.id, {**yes_no, "encouragement": True})
            services.record_lean(alex, decision.id, {"option_id": None, "why": "Thinking"})
            for k in range(messages):
                services.post_message(alex if k % 2 else rivera, decision.id, f"Message {k}")
            if decided:
                chosen = services.option_ids(decision.id)[0]
                participants = [c.rivera.id, c.lee.id, c.alex.user.id]
                outcome.record_outcome(
                    rivera, decision.id, {"option_id": chosen, "participants": participants}
                )
                scores = {"understand": 9, "listen": 9, "include": 9 - i % 2}
                services.answer_collaborate(alex, decision.id, scores)
        db.session.commit()
        db.session.remove()
    return ids


def _count(client, url: str, count_queries) -> int:
    client.get(url)  # warm: the session row may be refreshed on the first request
    with count_queries() as counter:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return counter.count


def test_the_list_the_plan_and_the_api_list_do_not_grow(app, clinic, count_queries):  # noqa: F811
    pid = clinic.alex.id
    rivera = clinic.login(clinic.rivera.email)
    counts: dict[str, list[int]] = {}
    for n in (1, 9):
        _decisions(clinic, n if not counts else n - 1, options=3)
        for url in (f"/p/{pid}/decisions", f"/api/v1/patients/{pid}/decisions"):
            counts.setdefault(url, []).append(_count(rivera, url, count_queries))
        pagecache.cache_of(app).clear()  # the plan page rendered, not kept
        rivera.get(f"/p/{pid}/plan")
        pagecache.cache_of(app).clear()
        with count_queries() as counter:
            assert rivera.get(f"/p/{pid}/plan").status_code == 200
        counts.setdefault("plan", []).append(counter.count)
    for name, (small, large) in counts.items():
        assert small == large, (name, small, large)
    # session, access, the list, the audit row, and what sealing the trail adds
    assert counts[f"/p/{pid}/decisions"][0] <= 4 + chain_statements(app)


def test_one_decision_costs_the_same_with_more_options_and_messages(app, clinic, count_queries):  # noqa: F811
    pid = clinic.alex.id
    small, large = _decisions(clinic, 1, options=2, messages=1) + _decisions(
        clinic, 1, options=6, messages=12
    )
    for who in (clinic.alex.email, clinic.rivera.email):
        client = clinic.login(who)
        for base in (f"/p/{pid}/decisions/{{}}", f"/api/v1/patients/{pid}/decisions/{{}}"):
            one = _count(client, base.format(small), count_queries)
            other = _count(client, base.format(large), count_queries)
            assert one == other, (who, base, one, other)


def test_a_decided_page_and_the_report_do_not_grow(app, clinic, count_queries):  # noqa: F811
    pid = clinic.alex.id
    first = _decisions(clinic, 1, decided=True)[0]
    rivera = clinic.login(clinic.rivera.email)
    alex = clinic.login(clinic.alex.email)
    report_small = _count(rivera, "/clinic/decisions/report", count_queries)
    page_small = _count(alex, f"/p/{pid}/decisions/{first}", count_queries)
    other = Clinic(app).patient("Robin", "Hale")
    clinic.team(other, clinic.rivera)
    more = _decisions(clinic, 6, options=4, messages=3, decided=True)
    assert _count(rivera, "/clinic/decisions/report", count_queries) == report_small
    assert _count(alex, f"/p/{pid}/decisions/{more[-1]}", count_queries) == page_small
    text = rivera.get("/clinic/decisions/report").get_data(as_text=True)
    # Scored on whole groups of five, oldest first: the first answer (all nines), then
    # i = 0 to 3 of the six (all nines when i is even) make three top scores of five.
    assert "3 of 5" in text and "of 7" not in text
    assert "2 newer answers count when there are 5" in text


def test_the_report_shows_scores_only_from_five_answers(app, clinic):  # noqa: F811
    """Four answers: counted, scores withheld (a clinician could tell whose); five: shown."""
    _decisions(clinic, 4, decided=True)
    rivera = clinic.login(clinic.rivera.email)
    text = text_of(rivera.get("/clinic/decisions/report"))
    assert "Answers 4" in text
    assert "9) Not shown : fewer than 5 answers" in text  # the mean score
    assert "of 4" not in text and "9.0" not in text and "8.8" not in text
    _decisions(clinic, 1, decided=True)  # i = 0 again: 9, 9, 9
    text = text_of(rivera.get("/clinic/decisions/report"))
    assert "Answers 5" in text and "Not shown" not in text.split("By clinician", 1)[0]
    # Answers 9,9,9 / 9,9,8 / 9,9,9 / 9,9,8 / 9,9,9: three top scores, mean 8.87.
    assert "Top scores 60% (3 of 5)" in text and "9) 8.9 Top" in text


_NOTE = r"(?: from the first \d+; \d+ newer answers? counts? when there are 5)?"


def _scores_only(text: str, answers: int) -> tuple[str, ...]:
    """The scores on "Everyone" and Dr. Rivera's line, after checking their answer counts."""
    overall = re.search(rf"Answers (\d+){_NOTE} Mean score \(0.9\) (\S+) Top scores (.+?) By", text)
    rivera = re.search(
        rf"Dr\. Riley Rivera Primary care physician (\d+){_NOTE} (\S+) (.+?\))", text
    )
    assert overall and rivera, text
    assert int(overall[1]) == int(rivera[1]) == answers
    return overall[2], overall[3], rivera[2], rivera[3]


def test_no_answer_can_be_worked_out_by_comparing_reports(app, clinic):  # noqa: F811
    """Read before and after one more answer, or "Everyone" beside a clinician's line, the
    scores never differ by one answer: each line is scored on whole groups of five."""
    rivera = clinic.login(clinic.rivera.email)
    _decisions(clinic, 5, decided=True)
    five = text_of(rivera.get("/clinic/decisions/report"))
    assert "Answers 5" in five and "Top scores 60% (3 of 5)" in five
    for total in (6, 7, 8, 9):
        _decisions(clinic, 1, decided=True)  # i = 0: all nines, which would move the scores
        later = text_of(rivera.get("/clinic/decisions/report"))
        assert f"Answers {total}" in later
        # Everything but the counts and the waiting notes reads exactly as at five answers,
        # on "Everyone" and on Dr. Rivera's line (she took part in every decision).
        assert _scores_only(later, total) == _scores_only(five, 5)
        assert "(3 of 5)" in later
    _decisions(clinic, 1, decided=True)  # the tenth completes the second group
    ten = text_of(rivera.get("/clinic/decisions/report"))
    assert "Answers 10" in ten and "(8 of 10)" in ten and "newer" not in ten
