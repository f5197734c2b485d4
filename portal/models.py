"""Imports every model so the metadata (and Alembic) knows every table."""

from portal.audit.models import AuditEvent, AuditEventPatient
from portal.auth.models import AuthSession, LoginThrottle, User
from portal.careplan.models import (
    Activity,
    CareTeamMember,
    Concern,
    PlanReview,
    PlanRevision,
)
from portal.goals.models import Goal, GoalMessage, GoalRead, ProgressEntry, ProgressEntryRevision
from portal.notifications.models import (
    Notification,
    NotificationPreference,
    PushDelivery,
    PushSubscription,
)
from portal.patients import Patient

__all__ = [
    "Activity",
    "AuditEvent",
    "AuditEventPatient",
    "AuthSession",
    "CareTeamMember",
    "Concern",
    "Goal",
    "GoalMessage",
    "GoalRead",
    "LoginThrottle",
    "Notification",
    "NotificationPreference",
    "Patient",
    "PlanReview",
    "PlanRevision",
    "ProgressEntry",
    "ProgressEntryRevision",
    "PushDelivery",
    "PushSubscription",
    "User",
]
