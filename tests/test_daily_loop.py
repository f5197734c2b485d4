"""The daily loop: saves confirmed beside the form, the conversation first, reply and next."""

from __future__ import annotations

import re

import pytest

from tests.conftest import chain_statements, text_of
from tests.factories import Clinic


@pytest.fixture()
def clinic(app) -> Clinic:
    return Clinic(app)


def _html(response) -> str:
    return response.get_data(as_text=True)


def _region(html: str, spot: str) -> re.Match:
    found = re.search(rf'<div [^>]*id="{spot}"[^>]*>(.*?)</div>', html, re.S)
    assert found, f"no #{spot} on the page"
    return found


def test_a_goal_page_save_lands_on_its_confirmation_with_the_week(clinic):
    robin = clinic.patient()
    goal = clinic.goal(robin, "Walk after lunch", target="20")
    client = clinic.login(robin.email)
    page = f"/p/{robin.id}/goals/{goal}"
    form = {"value": "25", "idempotency_key": "5b1f0c1e-8f0a-4d1c-9a51-8d9a1c1f2b3c"}
    sent = client.submit(f"{page}/entries", {**form, "next": page})
    assert sent.status_code == 303 and sent.headers["Location"] == f"{page}#saved-{goal}"
    html = _html(client.get(page))
    note = _region(html, f"saved-{goal}")
    assert 'role="status"' in note.group(0) and 'tabindex="-1"' in note.group(0)
    assert "autofocus" in note.group(0)
    assert re.fullmatch(
        r".*Saved: 25 minutes today\. On target 1 of \d days( so far)? this week\.", note.group(1)
    ), note.group(1)
    # Beside the form: inside the "Log your progress" section, not in the banner at the top.
    log = html[html.index('id="log"') : html.index("</section>", html.index('id="log"'))]
    assert f'id="saved-{goal}"' in log and "data-entry-form" in log
    assert "Saved" not in html.split("<h1")[0]
    # Shown once; the next view is an ordinary (kept) one, its region empty.
    again = _region(_html(client.get(page)), f"saved-{goal}")
    assert again.group(1) == "" and "autofocus" not in again.group(0)


def test_a_confirmation_without_its_form_falls_back_to_the_top(clinic):
    robin = clinic.patient()
    goal = clinic.goal(robin)
    client = clinic.login(robin.email)
    # Sent from a page with no form for this goal (the plan): it still says so, at the top.
    form = {"value": "10", "idempotency_key": "6b1f0c1e-8f0a-4d1c-9a51-8d9a1c1f2b3c"}
    sent = client.submit(
        f"/p/{robin.id}/goals/{goal}/entries", {**form, "next": f"/p/{robin.id}/plan"}
    )
    assert sent.headers["Location"] == f"/p/{robin.id}/plan#saved-{goal}"
    assert "Saved. Well done for logging it." in text_of(client.get(f"/p/{robin.id}/plan"))


def test_a_sent_message_is_confirmed_by_the_reply_box(clinic):
    robin = clinic.patient()
    goal = clinic.goal(robin)
    client = clinic.login(robin.email)
    page = f"/p/{robin.id}/goals/{goal}"
    sent = client.submit(f"{page}/messages", {"body": "Walked in the rain today."})
    assert sent.headers["Location"] == f"{page}#sent-{goal}"
    html = _html(client.get(page))
    note = _region(html, f"sent-{goal}")
    assert note.group(1).endswith("Sent. Your care team will see it.")
    assert "autofocus" in note.group(0)
    # Right above the reply box, after the message just sent.
    assert html.index("Walked in the rain today.") < note.start() < html.index("reply-form")


def test_the_thread_comes_first_and_older_parts_fold(clinic):
    robin = clinic.patient()
    doctor = clinic.clinician()
    clinic.team(robin, doctor)
    goal = clinic.goal(robin)
    for n in range(8):
        clinic.entry(robin, goal, value=str(10 + n), note=f"entry note {n}")
    ids = [
        clinic.message(robin, goal, f"message {n}", by=doctor if n % 2 else None) for n in range(7)
    ]
    html = _html(clinic.login(robin.email).get(f"/p/{robin.id}/goals/{goal}"))
    # The conversation before the log form and the entries.
    assert html.index('id="thread"') < html.index('id="log"') < html.index('id="entries-title"')
    # The newest five messages open, the two before folded (works without script: <details>).
    folded = re.search(r"<summary>Show 2 earlier messages</summary>(.*?)</details>", html, re.S)
    assert folded, "the older messages are not folded"
    assert "message 0" in folded.group(1) and "message 1" in folded.group(1)
    assert "message 2" not in folded.group(1) and "message 2" in html
    assert "Show 3 earlier entries" in html  # eight entries: five shown
    # "#latest" is the newest message, with the reply box right after it.
    latest = html.index('id="latest"')
    assert html.index(f'id="message-{ids[-1]}"') < latest < html.index("reply-form")
    assert html.count('id="latest"') == 1


def test_new_message_links_land_on_the_newest_message(clinic):
    robin = clinic.patient()
    doctor = clinic.clinician()
    clinic.team(robin, doctor)
    goal = clinic.goal(robin)
    clinic.message(robin, goal, "How far should I go?")
    reply = clinic.message(robin, goal, "Try 20 minutes.", by=doctor)
    client = clinic.login(robin.email)
    home = _html(client.get(f"/p/{robin.id}/"))
    assert f'href="/p/{robin.id}/goals/{goal}#latest">New message' in home
    assert f"/p/{robin.id}/goals/{goal}#message-{reply}" in home  # "What your team said"
    goals = _html(client.get(f"/p/{robin.id}/goals"))
    assert f'href="/p/{robin.id}/goals/{goal}#latest">New message' in goals


def test_reply_and_next_goes_to_the_next_waiting_goal(clinic):
    doctor = clinic.clinician()
    people = [clinic.patient(given) for given in ("Ana", "Ben", "Cy")]
    goals = []
    for person in people:
        clinic.team(person, doctor)
        goal = clinic.goal(person, f"Goal of {person.user.name}")
        clinic.message(person, goal, f"Question from {person.user.name}")
        goals.append((person.id, goal))
    client = clinic.login(doctor.email)
    inbox = _html(client.get("/clinic/inbox"))
    first = f"/p/{goals[0][0]}/goals/{goals[0][1]}"
    assert f'href="{first}#latest"' in inbox
    for index, (patient, goal) in enumerate(goals):
        sent = client.submit(
            f"/p/{patient}/goals/{goal}/messages", {"body": "Looks good.", "then": "next"}
        )
        assert sent.status_code == 303
        if index + 1 < len(goals):
            after, after_goal = goals[index + 1]
            assert sent.headers["Location"] == f"/p/{after}/goals/{after_goal}#latest"
            html = _html(client.get(sent.headers["Location"]))
            note = _region(html, f"sent-{after_goal}")
            assert "Sent. This is the next goal waiting for a reply." in note.group(1)
        else:
            assert sent.headers["Location"] == "/clinic/inbox"
            assert "Nothing else is waiting for a reply." in text_of(client.get("/clinic/inbox"))


def test_the_inbox_previews_what_waits_and_counts_it_on_its_tab(clinic, count_queries):
    doctor = clinic.clinician()
    ana, ben = clinic.patient("Ana"), clinic.patient("Ben")
    for person in (ana, ben):
        clinic.team(person, doctor)
    walk = clinic.goal(ana, "Walk after lunch")
    clinic.entry(ana, walk, value="25", note="Sunny, felt good")
    sleep = clinic.goal(ben, "Sleep by eleven", measure="done", target=None)
    clinic.message(ben, sleep, "I keep waking at three. Is that normal?")
    client = clinic.login(doctor.email)
    client.get("/clinic/inbox")
    with count_queries() as counter:
        html = _html(client.get("/clinic/inbox"))
    # the session, the page with its previews and what matters to its patients, one
    # audit event naming them (indexed for their access logs later), and the seal's share
    assert counter.count == 3 + chain_statements(clinic.app)
    text = re.sub(r"\s+", " ", html)
    assert "Logged " in text and "25 minutes · “Sunny, felt good”" in text
    assert "Wrote:</span> “I keep waking at three. Is that normal?”" in text
    assert text.count("Plan not yet agreed") == 2  # the patients' flags
    tab = re.search(r'<a class="tabs__link" href="/clinic/inbox"[^>]*>(.*?)</a>', html, re.S)
    assert re.sub(r"<[^>]+>", "", tab.group(1)).split() == ["Inbox", "2", "waiting"]
    panel = _html(client.get("/clinic/"))
    tab = re.search(r'<a class="tabs__link" href="/clinic/inbox"[^>]*>(.*?)</a>', panel, re.S)
    assert "2" in tab.group(1)


def test_long_text_is_refused_in_words_never_cut(clinic):
    robin = clinic.patient()
    goal = clinic.goal(robin)
    client = clinic.login(robin.email)
    page = f"/p/{robin.id}/goals/{goal}"
    html = _html(client.get(page))
    box = re.search(r"<textarea[^>]*name=\"body\"[^>]*>", html).group(0)
    # The browser does not cut (no maxlength); the script counts toward the limit.
    assert " maxlength=" not in box and 'data-maxlength="2000"' in box
    assert 'aria-describedby="body-hint body-count"' in box
    assert "You can write up to 2,000 characters." in html
    note = re.search(r'<textarea[^>]*name="note"[^>]*>', html).group(0)
    assert " maxlength=" not in note and 'data-maxlength="1000"' in note
    words = "I walked. " * 500  # 5,000 characters
    refused = client.submit(f"{page}/messages", {"body": words})
    assert refused.status_code == 422
    text = text_of(refused)
    assert "Keep the message under 2000 characters (it has 4999)" in text
    assert words.strip() in _html(refused)  # nothing lost: it is there to shorten
    assert "autofocus" in re.search(r"<div class=\"error-summary\"[^>]*>", _html(refused)).group(0)
    assert "I walked. I walked." not in text_of(client.get(page))  # nothing stored


def test_a_goal_shows_the_same_status_on_its_page_and_on_the_plan(clinic, app):
    from portal.extensions import db
    from portal.goals.models import Achievement, Goal

    robin = clinic.patient()
    goal = clinic.goal(robin, "Walk after lunch")
    with app.app_context():
        db.session.get(Goal, goal).achievement = Achievement.ACHIEVED
        db.session.commit()
    client = clinic.login(robin.email)
    plan = _html(client.get(f"/p/{robin.id}/plan"))
    start = plan.index('id="goals-title"')
    item = plan[plan.index("Walk after lunch", start) : plan.index("</li>", start)]
    assert '<span class="tag tag--achieved">Achieved</span>' in item and ">Active<" not in item
    page = _html(client.get(f"/p/{robin.id}/goals/{goal}"))
    assert '<span class="tag tag--achieved">Achieved</span>' in page


def _plan_clinic(clinic):
    robin = clinic.patient()
    doctor = clinic.clinician("Dr. Ada Park", job_title="Primary care physician")
    clinic.team(robin, doctor, lead=True)  # the lead adds and removes team members
    return robin, doctor, clinic.login(doctor.email)


def test_plan_history_is_in_words_and_own_edits_are_not_news(clinic, app):
    from portal.careplan.models import Concern
    from portal.extensions import db

    robin, _doctor, client = _plan_clinic(clinic)
    made = client.submit(
        f"/p/{robin.id}/plan/concern/new",
        {"title": "Knee pain", "category": "physical", "status": "active"},
    )
    assert made.status_code == 302
    with app.app_context():
        concern = db.session.query(Concern).filter_by(patient_id=robin.id).one().id
    changed = client.submit(
        f"/p/{robin.id}/plan/concern/{concern}/edit",
        {"title": "Knee pain when walking", "category": "physical", "status": "active"},
    )
    assert changed.status_code == 302
    history = text_of(client.get(f"/p/{robin.id}/plan/history"))
    assert "Title changed from Knee pain to Knee pain when walking" in history
    assert "version" not in history.lower()
    # Dr. Park made these changes: her plan does not list them as news to her.
    assert "What changed since you last looked" not in text_of(client.get(f"/p/{robin.id}/plan"))
    # The patient is told.
    patient = clinic.login(robin.email)
    assert "What changed since you last looked" in text_of(patient.get(f"/p/{robin.id}/plan"))


def test_who_does_it_is_chosen_and_the_role_comes_from_the_list(clinic):
    robin, _doctor, client = _plan_clinic(clinic)
    form = _html(client.get(f"/p/{robin.id}/plan/activity/new"))
    assert "<h1>Add an activity</h1>" in form
    assert re.search(r'<option (selected )?value="">Choose who does it</option>', form)
    assert not re.search(r'<option selected value="patient">', form)
    missing = client.submit(
        f"/p/{robin.id}/plan/activity/new",
        {"title": "Book a scan", "discipline": "primary_care", "status": "planned"},
    )
    assert missing.status_code == 422
    assert "Choose who does it" in text_of(missing)
    other = clinic.clinician("Sam Diaz", job_title="Dietitian")
    added = client.submit(
        f"/p/{robin.id}/team", {"user_id": str(other.id), "role": "", "discipline": "nutrition"}
    )
    assert added.status_code == 302
    team = text_of(client.get(f"/p/{robin.id}/team"))
    assert "Sam Diaz" in team and "Dietitian ·" in team


def test_destructive_actions_ask_first_and_say_what_they_did(clinic):
    robin, _doctor, client = _plan_clinic(clinic)
    other = clinic.clinician("Sam Diaz", job_title="Dietitian")
    clinic.team(robin, other)
    team = _html(client.get(f"/p/{robin.id}/team"))
    # "Remove" opens a question; only its "Yes" sends the form (no script needed).
    asks = re.findall(r'<details class="confirm">.*?</details>', team, re.S)
    # Sam's (the team's only lead cannot be removed until there is another).
    ask = next(a for a in asks if "Remove Sam Diaz" in a)
    assert "<summary" in ask and "from the care team?" in ask and "Yes, remove them" in ask
    action = re.search(r'action="([^"]+/remove)"', ask).group(1)
    done = client.submit(action, follow_redirects=True)
    assert "Removed " in text_of(done) and "from the care team." in text_of(done)


DAY = r"(?:\d{1,2} \w{3} \d{4}|\w{3} \d{1,2}, \d{4})"  # 2 Dec 2026 (en-GB), Dec 2, 2026 (en-US)


def test_the_plan_shows_whose_it_is_and_prints_cleanly(demo, monkeypatch):
    from datetime import date

    from portal.caregivers.guardians import age_on

    assert age_on(date(1968, 3, 14), date(2026, 3, 13)) == 57
    assert age_on(date(1968, 3, 14), date(2026, 3, 14)) == 58
    for email in ("alex@example.com", "rivera@example.com"):
        client = demo.login(email)
        for _ in range(2):  # rendered, then kept: the age and the date are filled per response
            html = _html(client.get(f"/p/{demo.alex}/plan"))
            banner = re.search(r'<p class="patient-banner[^"]*">(.*?)</p>', html, re.S).group(1)
            text = re.sub(r"<[^>]+>", "", banner)
            assert re.fullmatch(
                rf"Alex Morgan · born {DAY} · age \d+ · printed {DAY}",
                text,
            ), text
            assert "\x00" not in html and "data-print" in html


@pytest.mark.parametrize(
    ("language", "start", "end"),
    [("en-US,en;q=0.8", "9:30 PM", "7:00 AM"), ("en-GB,en;q=0.8", "21:30", "07:00")],
)
def test_time_hints_follow_the_readers_locale_like_the_time_boxes(clinic, language, start, end):
    robin = clinic.patient()
    client = clinic.login(robin.email)
    page = client.get("/settings/notifications", headers={"Accept-Language": language})
    assert page.status_code == 200
    text = text_of(page)
    assert f"For example, {start}" in text and f"For example, {end}" in text
