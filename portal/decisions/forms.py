"""What the decision pages ask, in the published wording, and reading their forms.

The pages are plain HTML forms (they work without JavaScript); the checking
is in `portal.decisions.inputs`, shared with the JSON API.
"""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict

from portal.decisions.inputs import FORM_SLOTS, OPTION_FIELDS

# The SURE test (Légaré et al. 2010), patient version: yes scores 1, no scores 0.
SURE_QUESTIONS = (
    ("sure", "Sure of myself", "Do you feel sure about the best choice for you?"),
    ("understand", "Understand information", "Do you know the benefits and risks of each option?"),
    (
        "risk_benefit",
        "Risk-benefit ratio",
        "Are you clear about which benefits and risks matter most to you?",
    ),
    (
        "encouragement",
        "Encouragement",
        "Do you have enough support and advice to make a choice?",
    ),
)
SURE_SHORT = {name: short for name, short, _ in SURE_QUESTIONS}

# CollaboRATE (Elwyn et al. 2013), patient version, 0 to 9.
COLLABORATE_INTRO = "Thinking about the decision you just made with your care team:"
COLLABORATE_QUESTIONS = (
    ("understand", "How much effort was made to help you understand your health issues?"),
    (
        "listen",
        "How much effort was made to listen to the things that matter most to you "
        "about your health issues?",
    ),
    (
        "include",
        "How much effort was made to include what matters most to you in choosing what to do next?",
    ),
)
COLLABORATE_ENDS = ("No effort was made", "Every effort was made")

OPTION_LABELS = {
    "title": "Option",
    "involves": "What it involves",
    "benefits": "Benefits",
    "risks": "Risks",
    "burdens": "Burdens (time, cost, effort)",
}
ASPECTS = OPTION_FIELDS[1:]


def decision_data(form: MultiDict) -> dict[str, Any]:
    """The open-a-decision form as the service reads it: fixed option slots to a list."""
    options = [
        {name: form.get(f"options-{slot}-{name}", "") for name in OPTION_FIELDS}
        for slot in range(FORM_SLOTS)
    ]
    data: dict[str, Any] = {
        name: form.get(name, "") for name in ("question", "context", "decide_by", "sensitivity")
    }
    data["options"] = options
    return data


def outcome_data(form: MultiDict) -> dict[str, Any]:
    """The record-the-decision form: several participants are ticked."""
    data: dict[str, Any] = {
        name: form.get(name, "") for name in ("option_id", "revisit_on", "note", "plan_link")
    }
    data["participants"] = form.getlist("participants")
    return data


def field_id(name: str) -> str:
    """The HTML id of a field an error names (`options.1.title` -> `options-1-title`)."""
    return name.replace(".", "-")
