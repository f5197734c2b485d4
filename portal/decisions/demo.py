"""Demo decisions for Alex: one open with three options, one decided with CollaboRATE answers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.decisions import outcome, services
from portal.decisions.models import DecisionOption
from portal.demo_context import Demo
from portal.extensions import db
from portal.goals.reading import patient_today

A1C_OPTIONS = [
    {
        "title": "Add a second medicine",
        "involves": "One more tablet (metformin) each morning with breakfast.",
        "benefits": "Brings A1c down by about 1 point for most people within 3 months.",
        "risks": "About 1 in 4 people get an upset stomach for the first few weeks.",
        "burdens": "A prescription each month; a blood test in 3 months.",
    },
    {
        "title": "Change what I eat and walk more, then check again",
        "involves": "Two visits with the dietitian, and a daily walk you already started.",
        "benefits": "No new medicine. More energy, and it helps blood pressure too.",
        "risks": "It may not bring A1c down enough on its own; we check again in 3 months.",
        "burdens": "Time to plan meals and walk most days.",
    },
    {
        "title": "A weekly injection",
        "involves": "One small injection once a week at home; we show you how.",
        "benefits": "Brings A1c down by 1 to 1.5 points; many people lose some weight.",
        "risks": "Feeling sick at first is common; rarely, problems with the pancreas.",
        "burdens": "Learning to inject; it costs more, depending on your insurance.",
    },
]


def _form(question: str, context: str, decide_by, options: list[dict]) -> dict:
    return {
        "question": question,
        "context": context,
        "decide_by": decide_by.isoformat(),
        "options": options,
    }


def alex_decisions(demo: Demo) -> None:
    """Alex: the open A1c decision (three options), and a decided one with CollaboRATE answers."""
    if demo.patient.given_name != "Alex":
        return
    rivera = demo.access("rivera@example.com")
    alex = demo.access("alex@example.com")
    today = patient_today(rivera)
    services.open_decision(
        rivera,
        _form(
            "How do we bring your A1c down?",
            "Your last A1c was 8.4%. We agreed to aim for under 7.5%. There are a few good "
            "ways to get there, and what suits you matters.",
            today + timedelta(days=14),
            A1C_OPTIONS,
        ),
    )
    sleep = services.open_decision(
        rivera,
        _form(
            "What should we try first for your sleep?",
            "You said you wake up most nights and feel tired all day.",
            today + timedelta(days=7),
            [
                {
                    "title": "Sleep coaching (CBT-I) with Jordan",
                    "involves": "Six weekly sessions, by video or in person.",
                    "benefits": "Works for most people and keeps working after it ends.",
                    "risks": "You may feel more tired in the first two weeks.",
                    "burdens": "An hour a week, and a sleep diary.",
                },
                {
                    "title": "A short course of sleeping tablets",
                    "involves": "A tablet at bedtime for up to two weeks.",
                    "benefits": "Helps quickly.",
                    "risks": "Drowsy the next day; falls; sleep gets worse when you stop.",
                    "burdens": "A prescription; no driving the morning after.",
                },
            ],
        ),
    )
    coaching = db.session.scalar(
        select(DecisionOption.id).where(
            DecisionOption.decision_id == sleep.id, DecisionOption.position == 1
        )
    )
    services.record_lean(alex, sleep.id, {"option_id": coaching, "why": "I'd rather avoid pills."})
    yes = dict.fromkeys(("sure", "understand", "risk_benefit", "encouragement"), True)
    services.answer_sure(alex, sleep.id, yes)
    outcome.record_outcome(
        rivera,
        sleep.id,
        {
            "option_id": coaching,
            "participants": [alex.actor_id, rivera.actor_id, demo.users["lee@example.com"].id],
            "revisit_on": (today + timedelta(days=60)).isoformat(),
            "note": "Jordan will book the first session.",
            "plan_link": "",
        },
    )
    services.answer_collaborate(alex, sleep.id, {"understand": 9, "listen": 9, "include": 8})
