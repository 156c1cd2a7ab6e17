"""Users and tokens: only hashes on the share, `winslow user add/list/revoke/token`, and the
quick-start seeding."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from winslow.api.identity import users
from winslow.api.node import cli as node_cli
from winslow.api.winsctl import clientconfig
from winslow.controller.layout import ShareLayout


def test_only_the_hash_of_a_token_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    token = users.add(path, "alice", groups=["vision", "vision"])
    text = path.read_text()
    assert token not in text
    assert users.hash_token(token) in text
    record = yaml.safe_load(text)["users"]["alice"]
    assert record["admin"] is False and record["groups"] == ["vision"]
    assert [t["hash"] for t in record["tokens"]] == [users.hash_token(token)]
    assert set(record["tokens"][0]) == {"id", "hash", "created"}
    found = users.UserDirectory(path).authenticate(token)
    assert found == users.User("alice", False, frozenset({"vision"}))
    assert users.UserDirectory(path).authenticate(token + "x") is None


def test_tokens_are_recognisable_and_never_look_like_an_option() -> None:
    tokens = [users.new_token() for _ in range(500)]  # token_urlsafe alone starts with `-` 1 time in 64
    assert all(t.startswith("wsl_") and len(t) > 40 for t in tokens)
    assert len(set(tokens)) == len(tokens)


def test_a_user_is_added_once_and_names_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    users.add(path, "alice")
    with pytest.raises(users.UsersFileError, match="already exists"):
        users.add(path, "alice")
    with pytest.raises(users.UsersFileError, match="not a valid user name"):
        users.add(path, "Alice Smith")
    with pytest.raises(users.UsersFileError, match="not a valid group name"):
        users.add(path, "bob", groups=["group:x"])


def test_a_plain_token_in_the_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text("users:\n  alice:\n    token: hunter2\n")
    with pytest.raises(users.UsersFileError, match="sha256:<hex>"):
        users.UserDirectory(path).authenticate("hunter2")


def test_the_single_token_of_older_files_still_works_and_keeps_its_id(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    token = users.new_token()
    path.write_text(f"users:\n  alice:\n    groups: [vision]\n    token: {users.hash_token(token)}\n")
    assert users.UserDirectory(path).authenticate(token) == users.User("alice", False, frozenset({"vision"}))
    [old] = users.tokens(path, "alice")
    assert old.id == users.legacy_id(users.hash_token(token)) and old.created is None
    users.add(path, "bob")  # rewrites the file in the new form
    assert "token:" not in path.read_text()
    assert users.tokens(path, "alice") == [old]
    assert users.UserDirectory(path).identify(token) == (
        users.User("alice", False, frozenset({"vision"})),
        old.id,
    )


def test_rotate_makes_the_old_token_fail_and_the_new_one_work(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    old = users.add(path, "alice")
    directory = users.UserDirectory(path)
    [before] = users.tokens(path, "alice")
    new, info, replaced = users.rotate_token(path, "alice")
    assert replaced == [before.id] and info.id != before.id
    assert directory.authenticate(old) is None
    assert directory.authenticate(new) == users.User("alice")
    assert directory.holder("alice", before.id) is None and directory.holder("alice", info.id) is not None
    assert [t.id for t in users.tokens(path, "alice")] == [info.id]


def test_tokens_are_revoked_one_or_all_and_ids_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    first = users.add(path, "alice")
    second, info = users.add_token(path, "alice")
    directory = users.UserDirectory(path)
    assert directory.authenticate(first) == directory.authenticate(second) == users.User("alice")
    assert users.revoke_token(path, "alice", info.id) == [info.id]
    assert directory.authenticate(second) is None and directory.authenticate(first) is not None
    with pytest.raises(users.UsersFileError, match="no token 'nope'"):
        users.revoke_token(path, "alice", "nope")
    with pytest.raises(users.UsersFileError, match="no user 'zed'"):
        users.rotate_token(path, "zed")
    users.revoke_token(path, "alice")
    assert directory.authenticate(first) is None
    assert users.tokens(path, "alice") == [] and [u.name for u in directory.all()] == ["alice"]


def test_only_one_first_admin_is_ever_made(tmp_path: Path) -> None:
    path = tmp_path / "settings" / "users.yaml"
    token = users.create_first_admin(path)
    assert token is not None
    assert users.create_first_admin(path) is None
    assert users.UserDirectory(path).authenticate(token) == users.User("admin", True)
    assert os.listdir(path.parent) == ["users.yaml"]


def test_winslow_user_add_prints_the_token_once_and_list_shows_users(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    share = tmp_path / "share"
    share.mkdir()
    assert node_cli.main(["user", "add", "dave", "--group", "vision", "--admin", "--share", str(share)]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert "shown only now" in err
    assert users.UserDirectory(ShareLayout(share).users_file).authenticate(token) is not None
    assert node_cli.main(["user", "list", "--share", str(share)]) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == ["dave", "yes", "vision"]
    assert node_cli.main(["user", "add", "dave", "--share", str(share)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert node_cli.main(["user", "list", "--share", str(tmp_path / "nope")]) == 1


def _token_list(share: Path, capsys: pytest.CaptureFixture[str], name: str = "dave") -> list[list[str]]:
    assert node_cli.main(["user", "token", "list", name, "--share", str(share)]) == 0
    return [line.split() for line in capsys.readouterr().out.splitlines()]


def test_winslow_user_token_list_rotate_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    share = tmp_path / "share"
    share.mkdir()
    path = ShareLayout(share).users_file
    assert node_cli.main(["user", "add", "dave", "--share", str(share)]) == 0
    first = capsys.readouterr().out.strip()
    assert node_cli.main(["user", "token", "add", "dave", "--share", str(share)]) == 0
    second = capsys.readouterr().out.strip()
    listed = _token_list(share, capsys)
    assert listed[0] == ["ID", "CREATED", "SESSIONS"] and len(listed) == 3
    text = "\n".join(" ".join(row) for row in listed)
    for secret in (first, second, users.hash_token(first), users.hash_token(second)):
        assert secret not in text and secret.removeprefix("sha256:")[:16] not in text
    first_id = listed[1][0]

    assert node_cli.main(["user", "token", "rotate", "dave", "--id", first_id, "--share", str(share)]) == 0
    out, err = capsys.readouterr()
    third = out.strip()
    assert "shown only now" in err
    directory = users.UserDirectory(path)
    assert directory.authenticate(first) is None
    assert directory.authenticate(second) is not None and directory.authenticate(third) is not None

    assert node_cli.main(["user", "token", "revoke", "dave", "--share", str(share)]) == 0
    assert "revoked 2 token(s)" in capsys.readouterr().err
    assert directory.authenticate(second) is None and directory.authenticate(third) is None
    assert _token_list(share, capsys) == [["ID", "CREATED", "SESSIONS"]]
    assert node_cli.main(["user", "token", "revoke", "dave", "--id", "x", "--share", str(share)]) == 1
    assert "no token 'x'" in capsys.readouterr().err
    assert node_cli.main(["user", "token", "list", "zed", "--share", str(share)]) == 1


def test_winslow_user_token_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["user", "token", "rotate", "--help"], ["user", "revoke", "--help"]):
        with pytest.raises(SystemExit):
            node_cli.main(argv)
        assert "examples:" in capsys.readouterr().out


def test_a_fresh_share_seeds_an_admin_token_into_the_client_config(tmp_path: Path) -> None:
    layout = ShareLayout(tmp_path / "share")
    layout.ensure()
    config = clientconfig.config_file()
    assert config == tmp_path / "winslow-config.yaml"  # WINSLOW_CONFIG (conftest): never ~/.config in tests
    config.write_text("token: old\nserver: http://elsewhere:1\ncolor: true\n")
    node_cli.seed_access(layout, "http://127.0.0.1:9")
    data = yaml.safe_load(config.read_text())
    assert data["server"] == "http://127.0.0.1:9" and data["color"] is True
    assert users.UserDirectory(layout.users_file).authenticate(data["token"]) == users.User("admin", True)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    before = config.read_text()
    node_cli.seed_access(layout, "http://127.0.0.1:10")  # the share has users now: nothing changes
    assert config.read_text() == before


def test_the_config_file_follows_winslow_config_then_xdg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("WINSLOW_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert clientconfig.config_file() == tmp_path / "xdg" / "winslow" / "config.yaml"
    clientconfig.save(clientconfig.config_file(), {"token": "t"})
    assert stat.S_IMODE((tmp_path / "xdg" / "winslow").stat().st_mode) == 0o700
