"""One OS user name for runs, snapshots and tag moves, whatever $LOGNAME says."""

from __future__ import annotations

import json
import os
import pwd
import sys
from pathlib import Path


def test_runs_snapshots_and_tag_moves_name_the_same_user(workspace: Path, mlvc) -> None:
    account = pwd.getpwuid(os.getuid()).pw_name
    env = {"LOGNAME": "somebody-else", "USER": "somebody-else"}
    mlvc("init")
    (workspace / "data.csv").write_text("a\n")
    mlvc("add", "data.csv", env=env)
    mlvc("run", "--", sys.executable, "-c", "open('data.csv').read()", env=env)
    mlvc("tag", "first", "latest", env=env)
    runs = json.loads(mlvc("log", "--json").stdout)["runs"]
    assert sorted(r["kind"] for r in runs) == ["run", "snapshot"]
    assert {r["owner"] for r in runs} == {account}
    history = json.loads(mlvc("tag", "--history", "first", "--json").stdout)["history"]
    assert [m["user"] for m in history] == [account]
    mine = json.loads(mlvc("log", "--owner", account, "--json").stdout)["runs"]
    assert len(mine) == 2
