"""Command-line overrides: splitting a word into assignments, typing their values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlvc import overrides
from mlvc.codec import encode
from mlvc.overrides import Assignment
from mlvc.params import argv_params, flatten
from mlvc.secrets import redact_argv


@pytest.mark.parametrize(
    ("word", "found"),
    [
        ("a=1", [Assignment("", "a", "1")]),
        ("++a.b-c=x=y", [Assignment("++", "a.b-c", "x=y")]),
        ("a=1,b=[2,3],c='x,y'", [("", "a", "1"), ("", "b", "[2,3]"), ("", "c", "'x,y'")]),
        ("db=mysql,postgres", [Assignment("", "db", "mysql,postgres")]),
        ("hydra/launcher=joblib", [Assignment("", "hydra/launcher", "joblib")]),
        ("~a", [Assignment("~", "a", None)]),
        ("~a=1,b=2", [Assignment("~", "a", "1"), Assignment("", "b", "2")]),
        ("data.csv", None),
        ("-p", None),
        ("=1", None),
        ("1=2", None),
        ("https://host/x?a=1", None),
    ],
)
def test_parse(word: str, found: list[tuple[str, str, str | None]] | None) -> None:
    assert overrides.parse(word) == found


@pytest.mark.parametrize("word", ["a=1,b=[2,3]", "~x,y=2", "k=v,w", "a=1,,b=2"])
def test_join_writes_back_the_word_parse_read(word: str) -> None:
    found = overrides.parse(word)
    assert found is not None
    assert overrides.join(found, [None] * len(found)) == word


def test_leaves_of_a_mapping_value() -> None:
    (found,) = overrides.parse("db={user: u, hosts: [a, {port: 1}]}") or []
    assert overrides.leaves(found) == [
        ("db.user", "u"),
        ("db.hosts", ["a", {"port": 1}]),
        ("db.hosts.0", "a"),
        ("db.hosts.1", {"port": 1}),
        ("db.hosts.1.port", 1),
    ]
    assert overrides.leaves(Assignment("", "x", "{not a mapping}")) == []
    assert overrides.leaves(Assignment("", "x", "1")) == []


@pytest.mark.parametrize(
    ("text", "typed"),
    [
        ("0.25", 0.25),
        ("3", 3),
        ("-2", -2),
        ("TRUE", True),
        ("null", None),
        ("[64,32]", [64, 32]),
        ("[]", []),
        ("[[1,2],[3]]", [[1, 2], [3]]),
        ("[a, 'b,c', 1.5]", ["a", "b,c", 1.5]),
        ("{a: 1, b: [x]}", {"a": 1, "b": ["x"]}),
        ("{not a mapping}", "{not a mapping}"),
        ('"quoted 1"', "quoted 1"),
        ("007", "007"),
        ("nan", "nan"),
        ("1e999", "1e999"),
        (str(1 << 70), str(1 << 70)),
        ("[1,2", "[1,2"),
        ("[" * 40 + "]" * 40, "[" * 24 + "]" * 24),  # nesting past the limit stays text
    ],
)
def test_values_are_typed_as_yaml_would(text: str, typed: Any) -> None:
    result = overrides.value(text)
    if text.startswith("[" * 40):
        for _ in range(16):
            (result,) = result
    assert result == typed


_WORDS = st.text(alphabet="ab.=,+~[]{}:'\" 1-x/@", max_size=30)


@given(_WORDS)
def test_any_word_round_trips_and_types_without_raising(word: str) -> None:
    found = overrides.parse(word)
    if found is not None:
        assert overrides.join(found, [None] * len(found)) == word
        for assignment in found:
            overrides.leaves(assignment)
            if assignment.value is not None:
                encode(flatten(overrides.value(assignment.value), prefix=assignment.key))


@given(st.lists(_WORDS, max_size=6))
def test_any_command_line_gives_encodable_params(words: list[str]) -> None:
    line = argv_params(["python", "train.py", *words])
    encode([line.options, line.overrides, sorted(line.deleted)])
    redact_argv(["python", "train.py", *words])
