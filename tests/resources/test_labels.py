"""Node labels (`winslow node --label`) and a stage's nodeSelector, in Kubernetes' syntax."""

import pytest
from pydantic import ValidationError

from winslow.resources import labels
from winslow.resources.pipeline import StageSpec


@pytest.mark.parametrize(
    ("item", "parsed"),
    [
        ("gpu=a100", ("gpu", "a100")),
        ("disk=ssd", ("disk", "ssd")),
        ("example.com/gpu=A100_80GB", ("example.com/gpu", "A100_80GB")),
        ("gpu.count=8", ("gpu.count", "8")),
        ("spare=", ("spare", "")),
        (" gpu = a100 ", ("gpu", "a100")),
    ],
)
def test_a_label_is_key_equals_value(item: str, parsed: tuple[str, str]) -> None:
    assert labels.parse(item) == parsed


@pytest.mark.parametrize(
    ("item", "named", "fix"),
    [
        ("gpu", "write KEY=VALUE", "--label gpu=a100"),
        ("=a100", "write KEY=VALUE", "--label gpu=a100"),
        ("gpu type=a100", "key 'gpu type'", "--label gpu-type=a100"),
        ("-gpu=a100", "key '-gpu'", "--label gpu=a100"),
        ("Example.com/gpu=a100", "prefix must be a lowercase DNS name", "--label example.com/gpu=a100"),
        ("gpu=a 100", "value 'a 100' of gpu", "--label gpu=a-100"),
        ("gpu=a100-", "value 'a100-' of gpu", "--label gpu=a100"),
        (f"{'k' * 64}=v", "at most 63", f"--label {'k' * 63}=v"),
        (f"gpu={'v' * 64}", "at most 63", f"--label gpu={'v' * 63}"),
    ],
)
def test_a_bad_label_names_the_flag_the_rule_and_a_fix(item: str, named: str, fix: str) -> None:
    with pytest.raises(ValueError) as caught:
        labels.parse(item)
    message = str(caught.value)
    assert message.startswith(f"--label {item!r}: ")
    assert named in message
    assert message.endswith(f"for example {fix}")
    assert labels.parse(fix.removeprefix("--label ")), "the suggested fix is itself valid"


def test_labels_are_repeatable_and_a_key_given_twice_must_agree() -> None:
    assert labels.parse_all(["gpu=a100", "disk=ssd", "gpu=a100"]) == {"gpu": "a100", "disk": "ssd"}
    with pytest.raises(ValueError, match=r"--label gpu: given twice \('a100' and 't4'\)"):
        labels.parse_all(["gpu=a100", "gpu=t4"])


def test_a_selector_matches_a_node_with_every_one_of_its_labels() -> None:
    node = {"gpu": "a100", "disk": "ssd"}
    assert labels.matches({}, node) and labels.matches(None, {}), "no selector: every node"
    assert labels.matches({"gpu": "a100"}, node)
    assert labels.matches({"gpu": "a100", "disk": "ssd"}, node)
    assert not labels.matches({"gpu": "t4"}, node)
    assert not labels.matches({"gpu": "a100", "net": "ib"}, node)
    assert not labels.matches({"gpu": "a100"}, {})
    assert not labels.matches({"spare": ""}, {}), "an empty value still needs the key"
    assert labels.matches({"spare": ""}, {"spare": ""})


def test_labels_are_described_as_a_selector_names_them() -> None:
    assert labels.describe({"gpu": "a100", "disk": "ssd"}) == "disk=ssd,gpu=a100"
    assert labels.describe({}) == labels.describe(None) == ""


def test_a_stage_may_select_nodes_and_yaml_scalars_become_strings() -> None:
    stage = StageSpec.model_validate(
        {"name": "train", "image": "img", "nodeSelector": {"gpu": "a100", "count": 8, "fast": True}}
    )
    assert stage.node_selector == {"gpu": "a100", "count": "8", "fast": "true"}
    assert stage.to_wire()["nodeSelector"] == {"gpu": "a100", "count": "8", "fast": "true"}
    assert StageSpec.model_validate({"name": "any", "image": "img"}).node_selector == {}


def test_a_bad_selector_is_refused_with_the_rule() -> None:
    with pytest.raises(ValidationError) as caught:
        StageSpec.model_validate({"name": "train", "image": "img", "nodeSelector": {"gpu type": "a100"}})
    assert "nodeSelector" in str(caught.value) and "key 'gpu type'" in str(caught.value)


def test_no_match_names_the_selector_and_what_each_live_node_has() -> None:
    nodes = {"node-b": {}, "node-a": {"gpu": "t4", "disk": "ssd"}}
    assert labels.no_match({"gpu": "a100"}, nodes) == (
        "no live node has labels gpu=a100: node-a has disk=ssd,gpu=t4, node-b has no labels"
    )
    assert labels.no_match({"gpu": "a100"}, {}) == "no live node has labels gpu=a100: no node is live"
