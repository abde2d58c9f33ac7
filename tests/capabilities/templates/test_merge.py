"""Three-way merge of plain data."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from plinth.capabilities.templates import MergeConflict, three_way_merge


def test_one_side_changed_takes_that_side() -> None:
    base = {"a": 1, "b": {"c": 2}}
    assert three_way_merge(base, {"a": 9, "b": {"c": 2}}, base).merged == {"a": 9, "b": {"c": 2}}
    assert three_way_merge(base, base, {"a": 1, "b": {"c": 7}}).merged == {"a": 1, "b": {"c": 7}}


def test_disjoint_changes_combine() -> None:
    base = {"limits": {"cpu": "500m", "memory": "256Mi"}}
    ours = {"limits": {"cpu": "500m", "memory": "512Mi"}}
    theirs = {"limits": {"cpu": "1", "memory": "256Mi"}, "requests": {"cpu": "100m"}}
    result = three_way_merge(base, ours, theirs)
    assert result.conflicts == []
    assert result.merged == {"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "100m"}}


def test_both_changed_the_same_value_differently_is_a_conflict() -> None:
    result = three_way_merge(
        {"x": {"memory": "256Mi"}}, {"x": {"memory": "512Mi"}}, {"x": {"memory": "384Mi"}}
    )
    assert result.merged == {"x": {"memory": "512Mi"}}
    assert result.conflicts == [MergeConflict("x.memory", "256Mi", "512Mi", "384Mi")]


def test_both_changed_the_same_way_is_no_conflict() -> None:
    result = three_way_merge({"a": 1}, {"a": 2}, {"a": 2})
    assert (result.merged, result.conflicts) == ({"a": 2}, [])


def test_both_added_the_same_key_differently_is_a_conflict() -> None:
    result = three_way_merge({}, {"LOG_LEVEL": "debug"}, {"LOG_LEVEL": "info"})
    assert result.merged == {"LOG_LEVEL": "debug"}
    assert result.conflicts == [MergeConflict("LOG_LEVEL", None, "debug", "info")]


def test_deletions() -> None:
    base = {"a": 1, "b": 2, "c": 3}
    assert three_way_merge(base, {"a": 1, "c": 3}, base).merged == {"a": 1, "c": 3}
    assert three_way_merge(base, base, {"a": 1, "b": 2}).merged == {"a": 1, "b": 2}
    assert three_way_merge(base, {"b": 2}, {"a": 1, "b": 2}).merged == {"b": 2}
    changed_and_deleted = three_way_merge(base, {"a": 1, "b": 5, "c": 3}, {"a": 1, "c": 3})
    assert changed_and_deleted.merged == {"a": 1, "b": 5, "c": 3}
    assert changed_and_deleted.conflicts == [MergeConflict("b", 2, 5, None)]
    deleted_and_changed = three_way_merge(base, {"a": 1, "c": 3}, {"a": 1, "b": 6, "c": 3})
    assert deleted_and_changed.merged == {"a": 1, "c": 3}
    assert deleted_and_changed.conflicts == [MergeConflict("b", 2, None, 6)]


def test_plain_lists_are_single_values() -> None:
    result = three_way_merge({"args": ["a"]}, {"args": ["a", "b"]}, {"args": ["c"]})
    assert result.merged == {"args": ["a", "b"]}
    assert [c.path for c in result.conflicts] == ["args"]


def test_lists_of_named_items_merge_by_name() -> None:
    base = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    ours = {
        "env": [
            {"name": "A", "value": "10"},
            {"name": "B", "value": "2"},
            {"name": "C", "value": "3"},
        ]
    }
    theirs = {
        "env": [
            {"name": "B", "value": "20"},
            {"name": "A", "value": "1"},
            {"name": "D", "value": "4"},
        ]
    }
    result = three_way_merge(base, ours, theirs)
    assert result.conflicts == []
    assert result.merged == {
        "env": [
            {"name": "A", "value": "10"},
            {"name": "B", "value": "20"},
            {"name": "C", "value": "3"},
            {"name": "D", "value": "4"},
        ]
    }
    removed = three_way_merge(base, {"env": [{"name": "B", "value": "2"}]}, theirs)
    assert removed.merged == {"env": [{"name": "B", "value": "20"}, {"name": "D", "value": "4"}]}
    clash = three_way_merge(base, ours, {"env": [{"name": "A", "value": "11"}]})
    assert [c.path for c in clash.conflicts] == ["env.A.value"]
    assert clash.merged == {"env": [{"name": "A", "value": "10"}, {"name": "C", "value": "3"}]}


def test_type_changes_are_changes() -> None:
    result = three_way_merge({"port": 8080}, {"port": 8080.0}, {"port": "8080"})
    assert len(result.conflicts) == 1


def test_merged_value_is_a_copy() -> None:
    ours: dict[str, Any] = {"a": {"b": [1]}}
    result = three_way_merge({}, ours, {})
    result.merged["a"]["b"].append(2)
    assert ours == {"a": {"b": [1]}}


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=5),
    st.floats(allow_nan=False),
)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "c", "name"]), children, max_size=3),
        st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["x", "y", "z"]), "v": children}),
            max_size=3,
            unique_by=lambda item: item["name"],
        ),
    ),
    max_leaves=12,
)


@given(_values, _values)
def test_one_sided_changes_win(base: Any, x: Any) -> None:
    ours_only = three_way_merge(base, x, base)
    assert ours_only.merged == x
    assert ours_only.conflicts == []
    theirs_only = three_way_merge(base, base, x)
    assert theirs_only.merged == x
    assert theirs_only.conflicts == []


@given(_values, _values)
def test_same_change_on_both_sides_has_no_conflict(base: Any, x: Any) -> None:
    result = three_way_merge(base, x, x)
    assert result.merged == x
    assert result.conflicts == []


@given(_values, _values, _values)
def test_merge_is_symmetric_up_to_conflicts(base: Any, ours: Any, theirs: Any) -> None:
    forward = three_way_merge(base, ours, theirs)
    backward = three_way_merge(base, theirs, ours)
    assert len(forward.conflicts) == len(backward.conflicts)
    if not forward.conflicts:
        assert forward.merged == backward.merged or isinstance(forward.merged, list)
