"""Demo: what matters to Alex and how he wants to decide, told in two sittings."""

from __future__ import annotations

from portal.decisions import preferences_services as services
from portal.decisions.preferences_inputs import SECTIONS, clean
from portal.demo_context import Demo


def alex_preferences(demo: Demo) -> None:
    """Alex's preferences, through the service, so their history is real."""
    if demo.patient.given_name != "Alex":
        return
    alex = demo.access("alex@example.com")
    services.save(
        alex,
        clean(
            {
                "what_matters": (
                    "Staying well enough to look after my garden and see my grandkids. "
                    "I don't want to end up in hospital again."
                ),
                "priorities": ["independence", "family", "avoid_hospital"],
                "involvement": "shared",
            },
            ("what_matters", "priorities", "priority_other", "involvement"),
        ),
    )
    services.save(
        alex,
        clean(
            {
                "detail": "some",
                "risk_format": "words",
                "language": "English",
                "interpreter": False,
                "channel": "portal",
                "contact_times": "Weekday mornings",
                "people": [
                    {"name": "Sam Morgan", "relationship": "family, helps with appointments"}
                ],
            },
            SECTIONS["information"] + SECTIONS["people"],
        ),
        finish=True,
    )
