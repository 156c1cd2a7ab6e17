"""`winslow node --label`: a bad label stops the node before it touches the share, naming the flag
and the fix."""

from __future__ import annotations

import pytest

from winslow.api.node import cli as node_cli


def test_a_bad_label_stops_the_node_with_the_flag_and_a_fix(tmp_path):
    share = tmp_path / "share"
    with pytest.raises(SystemExit) as stopped:
        node_cli.main(["node", "--share", str(share), "--label", "gpu=a100", "--label", "gpu type=a100"])
    message = str(stopped.value)
    assert message.startswith("winslow node: --label 'gpu type=a100': key 'gpu type'")
    assert message.endswith("for example --label gpu-type=a100")
    assert not share.exists()


def test_a_label_without_a_value_says_how_to_write_one(tmp_path):
    with pytest.raises(SystemExit, match=r"--label 'gpu': write KEY=VALUE, for example --label gpu=a100"):
        node_cli.main(["node", "--share", str(tmp_path / "share"), "--label", "gpu"])
