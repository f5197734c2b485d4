"""Property-based tests (Hypothesis): the goal parsers and the API's JSON bodies.

For any value at all, a parser either returns something that fits its field
or says why not (Invalid / ValueError with a message); nothing else escapes.
The API, given any JSON, answers a 2xx or a 4xx with a message, never a 5xx.
Examples are derandomized, so a run is repeatable; the counts stay small.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from portal.api.goal_models import EntryInput, GoalInput, MessageInput
from portal.api.push import PushSubscriptionJSON
from portal.goals import inputs
from portal.goals.measures import MEASURES
from portal.goals.models import Frequency, GoalCategory

TODAY = date(2026, 11, 26)
QUICK = settings(max_examples=100, deadline=None, derandomize=True, database=None)
WITH_APP = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# What JSON can carry, and what forms send (text), with the awkward cases made likely.
awkward_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "NaN", "Infinity", "-0", "1e309", "٣٠", "7,5", "4 000", "0x10"]),
    st.from_regex(r"\A[+-]?[0-9]{1,30}([.,][0-9]{0,30})?\Z"),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    awkward_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
measures = st.sampled_from(sorted(MEASURES.values(), key=lambda m: m.key))


@QUICK
@given(measures, json_scalars)
def test_a_value_fits_its_measure_or_says_why(measure, raw):
    try:
        value = inputs.check_value(measure, raw)
    except ValueError as error:
        assert str(error).startswith("Enter ")
        return
    assert isinstance(value, Decimal) and value.is_finite()
    assert measure.minimum <= value <= measure.maximum
    assert value == value.quantize(Decimal("0.01"))
    if measure.whole:
        assert value == value.to_integral_value()


@QUICK
@given(measures, st.data())
def test_a_value_in_range_is_read_back_as_written(measure, data):
    places = 0 if measure.whole else 2
    value = data.draw(st.decimals(measure.minimum, measure.maximum, places=places, allow_nan=False))
    assert inputs.check_value(measure, f"{value:f}") == value
    assert inputs.check_value(measure, f" {value:f} ".replace(".", ",")) == value


@QUICK
@given(awkward_text)
def test_only_the_digits_0_to_9_make_a_number(raw):
    value = inputs._decimal(raw)
    if value is not None:
        assert raw.isascii() and value.is_finite()


entry_fields = st.fixed_dictionaries(
    {},
    optional={
        "value": json_values,
        "done": json_values,
        "note": json_values,
        "feeling": json_values,
        "entry_date": st.one_of(json_values, st.dates().map(date.isoformat)),
    },
)


@QUICK
@given(measures, entry_fields)
def test_an_entry_is_checked_field_by_field(measure, data):
    try:
        values = inputs.entry(measure, data, TODAY)
    except inputs.Invalid as invalid:
        assert invalid.fields and set(invalid.fields) <= set(data) | {"value", "done"}
        assert all(isinstance(m, str) and m for m in invalid.fields.values())
        return
    assert values.entry_date <= TODAY
    assert len(values.note) <= inputs.NOTE_MAX
    assert values.feeling is None or inputs.FEELING_MIN <= values.feeling <= inputs.FEELING_MAX
    assert (values.value is not None) or (values.done is not None)


goal_fields = st.fixed_dictionaries(
    {},
    optional={
        "title": st.one_of(json_values, st.text(min_size=1, max_size=250)),
        "why": json_values,
        "category": st.one_of(json_values, st.sampled_from([c.value for c in GoalCategory])),
        "measure": st.one_of(json_values, st.sampled_from(sorted(MEASURES))),
        "frequency": st.one_of(json_values, st.sampled_from([f.value for f in Frequency])),
        "target_value": json_values,
        "due_on": st.one_of(json_values, st.dates().map(date.isoformat)),
    },
)


@QUICK
@given(goal_fields)
def test_a_goal_is_checked_field_by_field(data):
    try:
        goal = inputs.goal(data, TODAY)
    except inputs.Invalid as invalid:
        assert invalid.fields and all(isinstance(m, str) and m for m in invalid.fields.values())
        return
    assert 0 < len(goal["title"]) <= inputs.TITLE_MAX
    assert goal["measure"] in MEASURES
    assert goal["due_on"] is None or goal["due_on"] >= TODAY
    target = goal["target_value"]
    assert target is None or (target.is_finite() and target >= 0)


@QUICK
@given(json_values)
def test_a_message_or_a_key_is_text_or_refused(raw):
    for parse in (inputs.message, inputs.idempotency_key):
        try:
            text = parse(raw)
        except inputs.Invalid as invalid:
            assert invalid.fields
        else:
            assert isinstance(text, str) and text.strip() == text and text


@QUICK
@given(json_values)
def test_request_models_accept_or_refuse_any_json(document):
    """Pydantic's checks say ValidationError, never anything else, for any JSON."""
    text = json.dumps(document)
    for model in (EntryInput, GoalInput, MessageInput, PushSubscriptionJSON):
        with contextlib.suppress(ValidationError):
            model.model_validate_json(text)


# -- the API, for real: any JSON body is a 2xx or a 4xx with a message ----------

api_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(
            (
                "title",
                "why",
                "category",
                "measure",
                "target_value",
                "frequency",
                "due_on",
                "share",
                "value",
                "done",
                "note",
                "feeling",
                "entry_date",
                "body",
            ),
            json_values,
        ),
    ),
)


@WITH_APP
@given(body=api_bodies, route=st.sampled_from(["goals", "entries", "messages"]))
def test_the_api_answers_any_json_with_a_2xx_or_a_4xx(demo, body, route):
    from tests.routes_goals import walk

    client = _alex(demo)
    urls = {
        "goals": f"/api/v1/patients/{demo.alex}/goals",
        "entries": f"/api/v1/patients/{demo.alex}/goals/{_walk(demo, walk)}/entries",
        "messages": f"/api/v1/patients/{demo.alex}/goals/{_walk(demo, walk)}/messages",
    }
    response = client.post(
        urls[route],
        data=json.dumps(body),  # null too: the test client would send no body for json=None
        content_type="application/json",
        headers={"Idempotency-Key": str(uuid.uuid4()), "X-CSRFToken": client.csrf()},
    )
    assert response.status_code in (200, 201, 400, 409, 422), response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.get_json()["error"]


# The demo clinic in use and what was made for it. The clinic itself is held, not its
# id(): once a test's clinic is collected, Python may give a new one the same id.
_FOR_DEMO: dict[str, tuple[object, object]] = {}


def _for(demo, name: str, make):
    """`make(demo)` once per demo clinic (Hypothesis reuses the fixture across examples)."""
    held = _FOR_DEMO.get(name)
    if held is None or held[0] is not demo:
        _FOR_DEMO[name] = held = (demo, make(demo))
    return held[1]


def _alex(demo):
    return _for(demo, "alex", lambda d: d.login("alex@example.com"))


def _walk(demo, walk) -> int:
    return _for(demo, "walk", walk)
