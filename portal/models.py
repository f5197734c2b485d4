"""Imports every model so the metadata (and Alembic) knows every table."""

from portal.audit.models import AuditEvent, AuditListIndex, AuditListSpan
from portal.auth.mfa_models import RecoveryCode, TotpCredential
from portal.auth.models import AuthSession, LoginThrottle, User
from portal.auth.tokens import AccountToken
from portal.caregivers.models import Grant, Invitation
from portal.careplan.models import (
    Activity,
    CareTeamMember,
    Concern,
    PlanReview,
    PlanRevision,
)
from portal.decisions.models import (
    CollaborateAnswer,
    Decision,
    DecisionLean,
    DecisionMessage,
    DecisionOption,
    DecisionParticipant,
    SureAnswer,
)
from portal.decisions.preferences_models import (
    PatientPreferences,
    PreferenceChange,
    PreferencePerson,
    PreferenceReview,
)
from portal.goals import day_totals
from portal.goals.models import (
    Goal,
    GoalDayTotal,
    GoalMessage,
    GoalRead,
    ProgressEntry,
    ProgressEntryRevision,
)
from portal.mail.models import OutboxMail
from portal.notifications.models import (
    Notification,
    NotificationPreference,
    PushDelivery,
    PushSubscription,
)
from portal.patients import PageVersions, Patient
from portal.versions import install as _install_version_triggers

_install_version_triggers(Patient.metadata)  # create_all makes the triggers too
day_totals.install(Patient.metadata)

__all__ = [
    "AccountToken",
    "Activity",
    "AuditEvent",
    "AuditListIndex",
    "AuditListSpan",
    "AuthSession",
    "CareTeamMember",
    "CollaborateAnswer",
    "Concern",
    "Decision",
    "DecisionLean",
    "DecisionMessage",
    "DecisionOption",
    "DecisionParticipant",
    "Goal",
    "GoalDayTotal",
    "GoalMessage",
    "GoalRead",
    "Grant",
    "Invitation",
    "LoginThrottle",
    "Notification",
    "NotificationPreference",
    "OutboxMail",
    "PageVersions",
    "Patient",
    "PatientPreferences",
    "PlanReview",
    "PlanRevision",
    "PreferenceChange",
    "PreferencePerson",
    "PreferenceReview",
    "ProgressEntry",
    "ProgressEntryRevision",
    "PushDelivery",
    "PushSubscription",
    "RecoveryCode",
    "SureAnswer",
    "TotpCredential",
    "User",
]
