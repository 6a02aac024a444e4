"""Owners reads which part holds a live document from the parts' tables, as the dict an index built before did."""

from __future__ import annotations

import pytest

from qa.store.owners import Owners

BASE = {"a": (0, 2), "b": (2, 3), "c": (3, 5)}
RECENT = {"c": (0, 1), "d": (1, 2)}


def test_the_recent_part_wins_and_dead_base_documents_have_no_owner() -> None:
    owners = Owners(BASE, RECENT, frozenset({"b"}))
    before = {d: 0 for d in BASE if d != "b"} | {d: 1 for d in RECENT}  # what Index.__post_init__ built
    assert dict(owners) == before and len(owners) == 3 and list(owners) == ["a", "c", "d"]
    assert owners.get("b") is None and owners.get("zz") is None and owners["c"] == 1
    with pytest.raises(KeyError):
        owners["b"]


def test_others_lists_each_part_s_documents_whose_live_rows_are_elsewhere() -> None:
    owners = Owners(BASE, RECENT, frozenset({"b"}))
    assert sorted(owners.others(0, list(BASE))) == ["b", "c"]  # "b" gone, "c" written again
    assert owners.others(1, [*RECENT, "e"]) == ["e"]
    assert owners.others(0, ["a"]) == [] and Owners(BASE, {}, frozenset()).others(0, list(BASE)) == []


def test_owners_are_settled_only_while_no_document_has_moved() -> None:
    assert Owners(BASE, {}, frozenset()).settled
    assert not Owners(BASE, RECENT, frozenset()).settled and not Owners(BASE, {}, frozenset({"b"})).settled
