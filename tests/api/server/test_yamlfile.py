"""api.yamlfile: a user's manifest edited in place, only where the meaning changed."""

from __future__ import annotations

import difflib
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from winslow.api.server.yamlfile import edited, indents, plain

HAND = """# Ulm junction
apiVersion: winslow/v1
kind: Project
metadata:
  name: ulm   # the junction
  labels: {site: "ulm"}
spec:
  pipeline: traffic
  paused: true   # alice, for the review
  # tuning
  env:
    MIN_TRACK_LENGTH: "30"   # frames
    MODE: 'fast'

  # who may help
  members: ['group:vision']
"""


def diff(before: str, after: str) -> list[str]:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in lines if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def meaning(text: str) -> Any:
    return yaml.safe_load(text)


def test_a_changed_value_changes_its_line_only():
    before = meaning(HAND)
    after = {**before, "spec": {**before["spec"], "env": {"MIN_TRACK_LENGTH": "40", "MODE": "fast"}}}
    assert diff(HAND, edited(HAND, before, after)) == [
        '-    MIN_TRACK_LENGTH: "30"   # frames',
        '+    MIN_TRACK_LENGTH: "40"   # frames',
    ]


def test_a_removed_key_keeps_the_comments_that_followed_it():
    before = meaning(HAND)
    spec = {k: v for k, v in before["spec"].items() if k != "paused"}
    out = edited(HAND, before, {**before, "spec": spec})
    assert diff(HAND, out) == ["-  paused: true   # alice, for the review"]
    assert meaning(out)["spec"] == spec


def test_the_last_key_of_a_block_goes_without_taking_the_next_blocks_comment():
    before = meaning(HAND)
    after = {**before, "spec": {**before["spec"], "env": {"MIN_TRACK_LENGTH": "30"}}}
    assert diff(HAND, edited(HAND, before, after)) == ["-    MODE: 'fast'"]


def test_a_new_key_goes_last_in_its_mapping_before_the_comments_of_what_follows():
    before = meaning(HAND)
    env = {"MIN_TRACK_LENGTH": "30", "MODE": "fast", "DEBUG": "1"}
    out = edited(HAND, before, {**before, "spec": {**before["spec"], "env": env}})
    assert diff(HAND, out) == ["+    DEBUG: '1'"]
    lines = out.splitlines()
    assert lines.index("    DEBUG: '1'") == lines.index("    MODE: 'fast'") + 1


def test_values_the_user_gives_keep_their_spelling():
    text = "spec:\n  resources: {cpu: 1}\n"
    before = {"spec": {"resources": {"cpu": 1.0}}}
    after = {"spec": {"resources": {"cpu": 0.5, "memory": "64Mi"}}}
    given = {"spec": {"resources": {"cpu": "500m", "memory": "64Mi"}}}
    assert edited(text, before, after, given) == "spec:\n  resources: {cpu: 500m, memory: 64Mi}\n"


def test_snake_case_keys_the_models_accept_are_found():
    text = "spec:\n  run_from: {stage: a, requestedAt: x}\n"
    before = {"spec": {"runFrom": {"stage": "a", "requestedAt": "x"}}}
    after = {"spec": {"runFrom": {"stage": "b", "requestedAt": "y"}}}
    assert edited(text, before, after) == "spec:\n  run_from: {stage: b, requestedAt: y}\n"


def test_indentation_styles_survive():
    styles = {
        "apiVersion: v\nspec:\n  stages:\n  - name: a\n    image: i\n": (2, 2, 0),
        "apiVersion: v\nspec:\n  stages:\n    - name: a\n      image: i\n": (2, 4, 2),
        "apiVersion: v\nspec:\n    stages:\n        -   name: a\n            image: i\n": (4, 8, 4),
    }
    for text, expected in styles.items():
        assert indents(text) == expected
        before = meaning(text)
        after = {**before, "spec": {**before["spec"], "paused": True}}
        out = edited(text, before, after)
        assert out.startswith(text), out
        assert meaning(out) == after


def test_a_document_start_stays():
    text = "---\nkind: Project  # x\n"
    assert edited(text, {"kind": "Project"}, {"kind": "Project", "a": 1}) == "---\nkind: Project  # x\na: 1\n"


keys = st.sampled_from(["a", "b", "c", "env", "spec", "name", "x-y"])
scalars = st.one_of(st.integers(-5, 5), st.text("abc 12:#'\"", max_size=6), st.booleans())
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
documents = st.dictionaries(keys, trees, min_size=1, max_size=5)


@settings(max_examples=200, deadline=None)
@given(documents, documents)
def test_the_edited_text_means_exactly_the_new_content(before: dict[str, Any], after: dict[str, Any]):
    text = plain(before)
    assert meaning(text) == before
    out = edited(text, before, after)
    assert meaning(out) == after


@settings(max_examples=100, deadline=None)
@given(documents, keys, trees)
def test_changing_one_key_leaves_every_other_line_alone(before: dict[str, Any], key: str, value: Any):
    text = plain(before)
    after = {**before, key: value}
    out = edited(text, before, after)
    assert meaning(out) == after
    unchanged = [k for k in before if k != key]
    for line in text.splitlines():
        if line.split(":")[0] in unchanged:
            assert line in out.splitlines()


def test_a_string_that_yaml_1_1_reads_as_something_else_is_quoted():
    """ruamel writes YAML 1.2, where 1:1 is a string; nodes read YAML 1.1, where it is 61."""
    for value in ("1:1", "yes", "0x10", " padded"):
        out = edited(plain({"a": "x"}), {"a": "x"}, {"a": value})
        assert meaning(out) == {"a": value}, out
