"""Gateway ids and the state machine / Livy mapping."""

from __future__ import annotations

import pytest

from spark_gateway.domain.errors import BadRequest
from spark_gateway.domain.ids import is_valid_short_id, new_gateway_id, parse_gateway_id
from spark_gateway.domain.states import (
    LIVY_STATES,
    SEED_LIVY_STATES,
    AppState,
    LivyDialect,
    LivyState,
    can_transition,
    livy_state,
)


def test_gateway_id_round_trips_and_sorts_by_time() -> None:
    first, second = new_gateway_id("local", "dflt"), new_gateway_id("local", "dflt")
    parsed = parse_gateway_id(first)
    assert (parsed.cluster_id, parsed.namespace_id) == ("local", "dflt")
    assert parsed.uuid.version == 7
    assert str(parsed) == first
    assert first < second
    assert len(first) <= 62


@pytest.mark.parametrize(
    "bad", ["", "local-dflt", "Local-dflt-0190f0f0-0000-7000-8000-000000000000", "a-b-c"]
)
def test_malformed_gateway_ids_are_bad_requests(bad: str) -> None:
    with pytest.raises(BadRequest, match="format must be 'cluster-namespace-uuid'"):
        parse_gateway_id(bad)


@pytest.mark.parametrize(
    ("value", "ok"),
    [("local", True), ("a1", True), ("abcdefghijklm", False), ("a-b", False), ("", False), ("A", False)],
)
def test_short_ids(value: str, ok: bool) -> None:
    assert is_valid_short_id(value) is ok


def test_terminal_states_do_not_go_back() -> None:
    assert can_transition(AppState.NEW, AppState.SUBMITTED)
    assert can_transition(AppState.RUNNING, AppState.COMPLETED)
    assert not can_transition(AppState.COMPLETED, AppState.RUNNING)
    assert not can_transition(AppState.FAILED, AppState.SUBMITTED)
    assert can_transition(AppState.FAILING, AppState.PENDING_RERUN)
    assert can_transition(AppState.RUNNING, AppState.RUNNING)


def test_every_state_has_a_mapping_in_both_dialects() -> None:
    assert set(LIVY_STATES) == set(AppState) == set(SEED_LIVY_STATES)


def test_default_dialect_emits_only_livy_names_and_success() -> None:
    livy_names = {s.value for s in LivyState}
    assert {livy_state(s) for s in AppState} <= livy_names
    assert livy_state(AppState.COMPLETED) == "success"
    assert livy_state(AppState.FAILED) == "error"
    # Non-terminal operator states never look final to Airflow/pylivy.
    final = {"success", "error", "dead", "killed"}
    for state in AppState:
        if not state.is_terminal:
            assert livy_state(state) not in final, state


def test_seed_dialect_is_the_seed_table() -> None:
    d = LivyDialect.SPARK_GATEWAY
    assert livy_state(AppState.COMPLETED, d) == "finished"
    assert livy_state(AppState.NEW, d) == "not_started"
    assert livy_state(AppState.PENDING_RERUN, d) == "dead"
    assert livy_state(AppState.SUCCEEDING, d) == "shutting_down"


def test_unknown_operator_state_parses_as_unknown() -> None:
    assert AppState.parse("SOMETHING_NEW") is AppState.UNKNOWN
    assert AppState.parse(None) is AppState.NEW
