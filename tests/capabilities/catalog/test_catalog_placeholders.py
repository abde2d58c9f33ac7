"""Score placeholders (plinth.core.placeholders): find, substitute, escape."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plinth.core.errors import InvalidInput
from plinth.core.placeholders import (
    MalformedPlaceholder,
    Reference,
    UnresolvedPlaceholder,
    escape,
    find_placeholders,
    join_reference,
    split_reference,
    substitute,
)

VALUES: dict[str, Any] = {"a.b": "x", "n": 5, "flag": True, "obj": {"k": [1]}, "none": None}


def resolve(ref: str) -> Any:
    return VALUES[ref]


def fail(ref: str) -> Any:
    raise AssertionError(f"unexpected placeholder {ref}")


def test_find_walks_nested_structures() -> None:
    value = {"a": ["${x.y}", {"b": "pre ${z} and $${not.me} ${x.y}"}], "c": 3}
    assert find_placeholders(value) == {"x.y", "z"}
    assert find_placeholders("no placeholders $ { } $$") == set()


def test_single_placeholder_keeps_type() -> None:
    assert substitute({"n": "${n}", "f": ["${flag}"], "o": "${obj}"}, resolve) == {
        "n": 5,
        "f": [True],
        "o": {"k": [1]},
    }


def test_interpolation_renders_text() -> None:
    text = "${a.b}-${n}-${flag}-${none}-${obj}"
    assert substitute(text, resolve) == 'x-5-true--{"k":[1]}'


def test_escape_gives_literal() -> None:
    assert substitute("cost: $${price} ${n}", resolve) == "cost: ${price} 5"
    assert substitute("$${n}", fail) == "${n}"


def test_unresolved_carries_path() -> None:
    with pytest.raises(UnresolvedPlaceholder) as info:
        substitute({"env": {"DB": ["ok", "${missing.ref}"]}}, resolve)
    assert info.value.path == "$.env.DB[1]"
    assert info.value.ref == "missing.ref"
    assert isinstance(info.value, InvalidInput)
    assert "unresolvable placeholder ${missing.ref}" in info.value.detail


def test_resolver_reason_is_kept() -> None:
    def picky(ref: str) -> Any:
        raise KeyError("no such thing")

    with pytest.raises(UnresolvedPlaceholder, match="no such thing"):
        substitute("${a}", picky, path="$.x")


@pytest.mark.parametrize("text", ["${", "abc ${open", "${}", "${  }"])
def test_malformed(text: str) -> None:
    with pytest.raises(MalformedPlaceholder):
        find_placeholders({"k": text})


def test_non_final_keeps_templates() -> None:
    def rewrite(ref: str) -> Any:
        return Reference("resources.web-db.host") if ref == "resources.db.host" else "t${x}"

    value = "h=${resources.db.host} m=${meta} lit=$${keep}"
    out = substitute(value, rewrite, final=False)
    assert out == "h=${resources.web-db.host} m=t$${x} lit=$${keep}"
    assert substitute("${resources.db.host}", rewrite, final=False) == "${resources.web-db.host}"
    with pytest.raises(UnresolvedPlaceholder):
        substitute("${resources.db.host}", rewrite)


def test_references_split_and_join() -> None:
    assert split_reference(r"metadata.annotations.plinth\.dev/type") == [
        "metadata",
        "annotations",
        "plinth.dev/type",
    ]
    assert join_reference(["a", "b.c"]) == r"a.b\.c"


@given(
    st.recursive(
        st.none() | st.integers() | st.text().filter(lambda t: "${" not in t),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=10,
    )
)
def test_values_without_placeholders_are_unchanged(value: Any) -> None:
    assert substitute(value, fail) == value
    assert find_placeholders(value) == set()


@given(st.text(alphabet=st.sampled_from(list("${}.ab\\ ")), max_size=40))
def test_escape_round_trips(text: str) -> None:
    assert substitute(escape(text), fail) == text
    assert find_placeholders(escape(text)) == set()
    assert substitute(escape(text), fail, final=False) == escape(text)


@given(st.lists(st.text(alphabet=st.sampled_from(list("ab.\\-/")), min_size=1), min_size=1))
def test_reference_round_trips(parts: list[str]) -> None:
    if any(p.endswith("\\") or "\\." in p for p in parts):
        return
    assert split_reference(join_reference(parts)) == parts
