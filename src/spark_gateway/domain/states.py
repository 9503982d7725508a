"""Application states (the spark-operator's) and the Livy state names they map to.

One table of allowed transitions for every backend, so the local backend and the Spark Operator report
the same life cycle, and one place for the Livy mapping in both dialects.
"""

from __future__ import annotations

from enum import StrEnum


class AppState(StrEnum):
    NEW = ""
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SUBMISSION_FAILED = "SUBMISSION_FAILED"
    PENDING_RERUN = "PENDING_RERUN"
    INVALIDATING = "INVALIDATING"
    SUCCEEDING = "SUCCEEDING"
    FAILING = "FAILING"
    UNKNOWN = "UNKNOWN"
    SUSPENDING = "SUSPENDING"
    SUSPENDED = "SUSPENDED"
    RESUMING = "RESUMING"

    @classmethod
    def parse(cls, value: str | None) -> AppState:
        """Operator state strings; anything unrecognised is UNKNOWN rather than an error."""
        if not value:
            return cls.NEW
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({AppState.COMPLETED, AppState.FAILED})

_S = AppState
# What the kubeflow spark-operator's reconcile loop can do (tests/fakes/spark_operator.py plays it),
# plus the direct Running→Completed/Failed the local backend uses (it has no pod phase to pass through).
ALLOWED_TRANSITIONS: dict[AppState, frozenset[AppState]] = {
    _S.NEW: frozenset({_S.SUBMITTED, _S.SUBMISSION_FAILED, _S.FAILED, _S.INVALIDATING, _S.SUSPENDING}),
    _S.SUBMITTED: frozenset(
        {_S.RUNNING, _S.SUCCEEDING, _S.FAILING, _S.UNKNOWN, _S.COMPLETED, _S.FAILED, _S.INVALIDATING}
        | {_S.SUSPENDING}
    ),
    _S.RUNNING: frozenset(
        {_S.SUCCEEDING, _S.FAILING, _S.UNKNOWN, _S.COMPLETED, _S.FAILED, _S.INVALIDATING, _S.SUSPENDING}
    ),
    _S.UNKNOWN: frozenset(
        {_S.SUBMITTED, _S.RUNNING, _S.SUCCEEDING, _S.FAILING, _S.COMPLETED, _S.FAILED, _S.INVALIDATING}
    ),
    _S.SUCCEEDING: frozenset({_S.COMPLETED, _S.PENDING_RERUN, _S.INVALIDATING}),
    _S.FAILING: frozenset({_S.FAILED, _S.PENDING_RERUN, _S.INVALIDATING}),
    _S.SUBMISSION_FAILED: frozenset({_S.SUBMITTED, _S.SUBMISSION_FAILED, _S.FAILED, _S.INVALIDATING}),
    _S.PENDING_RERUN: frozenset({_S.SUBMITTED, _S.SUBMISSION_FAILED, _S.FAILED, _S.INVALIDATING}),
    _S.INVALIDATING: frozenset({_S.PENDING_RERUN, _S.FAILED}),
    _S.SUSPENDING: frozenset({_S.SUSPENDED, _S.FAILED}),
    _S.SUSPENDED: frozenset({_S.RESUMING, _S.FAILED}),
    _S.RESUMING: frozenset({_S.SUBMITTED, _S.SUBMISSION_FAILED, _S.FAILED}),
    # Terminal states only move on when the spec changes (the operator re-runs the application).
    _S.COMPLETED: frozenset({_S.INVALIDATING}),
    _S.FAILED: frozenset({_S.INVALIDATING}),
}


def can_transition(current: AppState, new: AppState) -> bool:
    """True when `new` may follow `current`; staying in the same state is always allowed."""
    return current == new or new in ALLOWED_TRANSITIONS[current]


class LivyState(StrEnum):
    NOT_STARTED = "not_started"
    STARTING = "starting"
    RECOVERING = "recovering"
    IDLE = "idle"
    RUNNING = "running"
    BUSY = "busy"
    SHUTTING_DOWN = "shutting_down"
    ERROR = "error"
    DEAD = "dead"
    KILLED = "killed"
    SUCCESS = "success"

    @property
    def is_active(self) -> bool:
        """Livy's `isActive`: not yet ended, nor shutting down."""
        return self not in (
            LivyState.SHUTTING_DOWN,
            LivyState.ERROR,
            LivyState.DEAD,
            LivyState.KILLED,
            LivyState.SUCCESS,
        )


class LivyDialect(StrEnum):
    LIVY = "livy"
    SPARK_GATEWAY = "spark-gateway"


# The seed gateway's table, exactly (README: `livy.dialect`). It says `finished`, which is not a Livy
# state: pylivy rejects it and Airflow never treats it as terminal. Only with `livy.dialect: spark-gateway`.
SEED_LIVY_STATES: dict[AppState, str] = {
    _S.NEW: "not_started",
    _S.SUBMITTED: "starting",
    _S.RUNNING: "running",
    _S.COMPLETED: "finished",
    _S.FAILED: "error",
    _S.SUBMISSION_FAILED: "dead",
    _S.PENDING_RERUN: "dead",
    _S.INVALIDATING: "shutting_down",
    _S.SUCCEEDING: "shutting_down",
    _S.FAILING: "shutting_down",
    _S.UNKNOWN: "dead",
    _S.SUSPENDING: "not_started",
    _S.SUSPENDED: "not_started",
    _S.RESUMING: "not_started",
}

# The default: only Livy's own names, and a non-terminal operator state never maps to a Livy state that
# clients treat as final (dead/error/success/killed), because the operator may still retry it.
LIVY_STATES: dict[AppState, LivyState] = {
    _S.NEW: LivyState.NOT_STARTED,
    _S.SUBMITTED: LivyState.STARTING,
    _S.RUNNING: LivyState.RUNNING,
    _S.COMPLETED: LivyState.SUCCESS,
    _S.FAILED: LivyState.ERROR,
    _S.SUBMISSION_FAILED: LivyState.STARTING,
    _S.PENDING_RERUN: LivyState.STARTING,
    _S.INVALIDATING: LivyState.STARTING,
    _S.SUCCEEDING: LivyState.SHUTTING_DOWN,
    _S.FAILING: LivyState.SHUTTING_DOWN,
    _S.UNKNOWN: LivyState.RUNNING,
    _S.SUSPENDING: LivyState.SHUTTING_DOWN,
    _S.SUSPENDED: LivyState.NOT_STARTED,
    _S.RESUMING: LivyState.STARTING,
}


def livy_state(state: AppState, dialect: LivyDialect = LivyDialect.LIVY) -> str:
    if dialect is LivyDialect.SPARK_GATEWAY:
        return SEED_LIVY_STATES[state]
    return LIVY_STATES[state].value
