"""`mlvc remote add / list / remove`, end to end through the real `mlvc` command."""

from __future__ import annotations

import json
from pathlib import Path

from mlvc import config
from mlvc.config import RemoteConfig
from tests.conftest import Run, init_store


def _remotes(mlvc: Run) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = json.loads(mlvc("remote", "list", "--json").stdout)["remotes"]
    return listed


def test_add_list_remove(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    original = (workspace / ".mlvc" / "config.toml").read_bytes()
    added = mlvc(
        "remote", "add", "origin", "s3://team/mlvc", "-o", "endpoint_url=http://127.0.0.1:9",
        "-o", "client_kwargs.region_name=eu-west-1", "-o", "anon=false", "--default",
    )  # fmt: skip
    assert added.stdout == "added remote origin s3://team/mlvc (default)\n"
    mlvc("remote", "add", "backup", "../shared", cwd=workspace)
    assert _remotes(mlvc) == [
        {
            "name": "origin",
            "url": "s3://team/mlvc",
            "default": True,
            "options": {
                "endpoint_url": "http://127.0.0.1:9",
                "client_kwargs.region_name": "eu-west-1",
                "anon": False,
            },
        },
        {
            "name": "backup",
            "url": str(workspace.parent / "shared"),
            "default": False,
            "options": {},
        },
    ]
    text = mlvc("remote", "list").stdout
    assert text.splitlines()[0].startswith("* origin\ts3://team/mlvc")
    assert mlvc("status").returncode == 0  # every command still reads the config
    mlvc("remote", "remove", "origin")
    mlvc("remote", "remove", "backup")
    assert _remotes(mlvc) == []
    # back to the text init wrote: the fast path that skips the TOML parser applies again
    assert (workspace / ".mlvc" / "config.toml").read_bytes() == original


def test_default_moves_to_the_last_remote_added_with_default(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    mlvc("remote", "add", "a", "s3://one/x", "--default")
    mlvc("remote", "add", "b", "s3://two/x", "--default")
    assert [(r["name"], r["default"]) for r in _remotes(mlvc)] == [("a", False), ("b", True)]


def test_credentials_are_never_stored(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    before = (workspace / ".mlvc" / "config.toml").read_bytes()
    url = mlvc("remote", "add", "o", "s3://AKIAEXAMPLE:hunter2secret@bucket/p", check=False)
    assert url.returncode == 1
    assert "embedded credentials" in url.stderr and "hunter2secret" not in url.stderr
    for option in (
        "key=AKIAEXAMPLE",
        "secret=hunter2secret",
        "client_kwargs.aws_secret_access_key=x",
    ):
        refused = mlvc("remote", "add", "o", "s3://bucket/p", "-o", option, check=False)
        assert refused.returncode == 1 and "looks like a credential" in refused.stderr
        assert "hunter2secret" not in refused.stderr
    assert (workspace / ".mlvc" / "config.toml").read_bytes() == before


def test_mistakes_are_errors_with_hints(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    mlvc("remote", "add", "origin", "s3://bucket/p")
    for args, message in [
        (("remote", "add", "origin", "s3://other/p"), "remote origin already exists"),
        (("remote", "add", "x", "nosuch://b/p"), "unknown remote URL scheme nosuch://"),
        (("remote", "add", "bad name", "s3://b/p"), "'bad name' is not a valid remote name"),
        (("remote", "add", "x", "s3://b/p", "-o", "novalue"), "'novalue' is not an option"),
        (("remote", "remove", "nothere"), "no remote named nothere"),
    ]:
        result = mlvc(*args, check=False)
        assert result.returncode == 1, args
        assert f"error: {message}" in result.stderr and "hint: " in result.stderr


def test_no_start_up_imports_fsspec_or_s3fs(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    mlvc("remote", "add", "origin", "s3://bucket/p", "-o", "endpoint_url=http://127.0.0.1:9")
    for args in (("status",), ("remote", "list"), ("log",), ("--version",)):
        traced = mlvc(*args, env={"PYTHONPROFILEIMPORTTIME": "1"})
        imported = {line.rsplit("|", 1)[-1].strip() for line in traced.stderr.splitlines()}
        assert "mlvc" in imported  # the trace is there
        assert not {m for m in imported if m.split(".")[0] in ("fsspec", "s3fs", "botocore")}


def test_config_round_trip_with_nested_options(tmp_path: Path) -> None:
    remote = RemoteConfig(
        "origin", 's3://b/"p"', True, (("endpoint_url", "http://h:1"), ("client_kwargs.a.b", 3))
    )
    written = config.default()._replace(remotes=(remote,))
    (tmp_path / "config.toml").write_text(written.render())
    loaded = config.load(tmp_path / "config.toml")
    assert loaded == written
    assert remote.storage_options() == {
        "endpoint_url": "http://h:1",
        "client_kwargs": {"a": {"b": 3}},
    }
