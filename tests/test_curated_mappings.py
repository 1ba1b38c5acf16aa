"""Curated mappings are never overwritten: every change is a new version with who, when and why."""
from __future__ import annotations

import pytest

from mappings.curated import (
    Decision,
    Relationship,
    Target,
    find_current,
    history,
    record_mapping,
)
from terminology.errors import StaleMappingVersion

LOCAL = "https://hospital.example.org/fhir/CodeSystem/allergens"
SNOMED = "http://snomed.info/sct"
PENICILLIN = Target(SNOMED, "764146007", "Penicillin", Relationship.EQUIVALENT)


def _map(connection, targets, author="pharm.a", based_on=None, decision=Decision.MAPPED, reason="reviewed"):
    return record_mapping(
        connection, source_system=LOCAL, source_code="PCN", source_text=None, context="allergy",
        target_system=SNOMED, decision=decision, targets=targets, author=author, reason=reason,
        origin="review:test", based_on=based_on,
    )


def test_a_change_is_a_new_version_and_the_old_one_stays(store):
    with store.begin() as connection:
        first = _map(connection, [PENICILLIN])
        second = _map(connection, [PENICILLIN, Target(SNOMED, "6369005", "Penicillin G", Relationship.RELATED)],
                      author="pharm.b", based_on=1, reason="add penicillin G")
    assert (first.version, second.version) == (1, 2)
    assert first.mapping_id == second.mapping_id
    with store.connect() as connection:
        versions = history(connection, first.mapping_id)
        current = find_current(connection, LOCAL, "PCN", None, "allergy", SNOMED)
    assert [(v.version, v.author, v.reason, len(v.targets)) for v in versions] == [
        (1, "pharm.a", "reviewed", 1), (2, "pharm.b", "add penicillin G", 2)]
    assert current.version == 2


def test_an_edit_based_on_a_replaced_version_is_refused_naming_who_changed_it(store):
    with store.begin() as connection:
        _map(connection, [PENICILLIN])
        _map(connection, [PENICILLIN], author="pharm.b", based_on=1)
    with store.begin() as connection, pytest.raises(StaleMappingVersion, match="changed by pharm.b") as refused:
        _map(connection, [PENICILLIN], author="pharm.c", based_on=1)
    assert refused.value.current == 2


def test_retiring_is_a_version_too(store):
    with store.begin() as connection:
        _map(connection, [PENICILLIN])
        retired = _map(connection, [], decision=Decision.RETIRED, based_on=1, reason="local code withdrawn")
    with store.connect() as connection:
        assert [v.decision for v in history(connection, retired.mapping_id)] == [Decision.MAPPED, Decision.RETIRED]
