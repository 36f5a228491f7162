"""Secrets never reach the store: argv values, params, credential files, the code patch,
logs, crash logs. Each test greps everything under `.mlvc/` (raw bytes, and every object
decompressed), `mlvc show --json` and `mlvc cat-object` for the secret values."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import zstandard

from mlvc.store.pack import read_table
from tests.conftest import init_store

PYTHON = sys.executable


def _store_blobs(workspace: Path) -> list[bytes]:
    """Every file under `.mlvc/` as bytes, and every pack entry zstd-decompressed."""
    store = workspace / ".mlvc"
    blobs = [p.read_bytes() for p in store.rglob("*") if p.is_file()]
    for pack in store.glob("packs/*.pack"):
        data = pack.read_bytes()
        for entry in read_table(pack):
            stored = data[entry.offset : entry.offset + entry.stored_len]
            if entry.codec == 1:
                stored = zstandard.ZstdDecompressor().decompress(
                    stored, max_output_size=entry.raw_len
                )
            blobs.append(stored)
    return blobs


def assert_nowhere(cli, workspace: Path, run_id: str, *secrets: str) -> dict:
    """No secret in the store, the run's `show --json`, or the objects it names."""
    shown = cli("show", run_id, "--json").ok().stdout
    run = json.loads(shown)
    named = [run_id, run["code"].get("patch"), *(run["logs"].get(k) for k in ("stdout", "stderr"))]
    blobs = [shown, *_store_blobs(workspace)]
    blobs += [cli("cat-object", oid).ok().stdout for oid in named if oid]
    for secret in secrets:
        assert not any(secret.encode() in blob for blob in blobs), f"{secret} was stored"
    return dict(json.loads(shown))


def _run(
    cli, *argv: str, env: dict[str, str] | None = None, flags: tuple[str, ...] = ()
) -> tuple[str, bytes]:
    proc = subprocess.run(
        [str(Path(PYTHON).with_name("mlvc")), "run", "--json", *flags, "--", *argv],
        cwd=cli.workspace,
        env=cli.env(env),
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return json.loads(proc.stdout)["run_id"], proc.stderr


def _script(workspace: Path, name: str, body: str) -> None:
    (workspace / name).write_text(body)


def test_secret_argv_values_run_for_real_but_are_recorded_redacted(cli, workspace: Path) -> None:
    init_store(workspace)
    argv = [
        "--api-key=ARGV-S1", "--password", "ARGV-S2", "--token", "ARGV-S3", "db.pass=ARGV-S4",
        "--lr", "0.1",
    ]  # fmt: skip
    # The script gets the expected argv through a variable recorded by name only.
    _script(
        workspace,
        "check.py",
        "import json, os, sys\nassert sys.argv[1:] == json.loads(os.environ['WANT']), sys.argv\n",
    )
    run_id, _ = _run(cli, PYTHON, "check.py", *argv, env={"WANT": json.dumps(argv)})
    shown = assert_nowhere(cli, workspace, run_id, "ARGV-S1", "ARGV-S2", "ARGV-S3", "ARGV-S4")
    assert shown["command"][2:] == [
        "--api-key=***", "--password", "***", "--token", "***", "db.pass=***", "--lr", "0.1",
    ]  # fmt: skip
    params = shown["params"]
    assert params["args.lr"] == 0.1
    for key in ("args.api_key", "args.password", "args.token", "db.pass"):
        assert params[key] == "***", key


def test_reproducing_a_redacted_command_is_refused_with_the_reason(cli, workspace: Path) -> None:
    init_store(workspace)
    _script(workspace, "noop.py", "")
    run_id, _ = _run(cli, PYTHON, "noop.py", "--token", "ARGV-TOKEN-1")
    refused = cli("reproduce", run_id)
    assert refused.returncode == 1, refused.describe()
    assert "error: run " in refused.stderr and "Traceback" not in refused.stderr
    assert "cannot be re-executed as recorded" in refused.stderr and "hint:" in refused.stderr
    assert not list(workspace.glob("*.txt"))  # nothing ran


def test_secret_keys_of_a_config_are_redacted_and_its_bytes_withheld(cli, workspace: Path) -> None:
    init_store(workspace)
    (workspace / "params.yaml").write_text(
        "lr: 0.5\ndb:\n  password: CFG-S1\napi_key: CFG-S2\naws:\n  storage_key: CFG-S3\n"
        "pad_token: '[PAD]'\n"
    )
    _script(workspace, "train.py", "import yaml\nyaml.safe_load(open('params.yaml'))\n")
    run_id, _ = _run(cli, PYTHON, "train.py")
    shown = assert_nowhere(cli, workspace, run_id, "CFG-S1", "CFG-S2", "CFG-S3")
    assert shown["params"]["lr"] == 0.5
    assert shown["params"]["pad_token"] == "[PAD]"
    for key in ("db.password", "api_key", "aws.storage_key"):
        assert shown["params"][key] == "***", key
    assert "params.yaml" not in shown["inputs"]
    assert "params.yaml" in shown["environment"]["secret_files"]
    assert "params.yaml" in shown["code"]["withheld"]


def test_credential_files_are_fingerprinted_never_stored(cli, workspace: Path) -> None:
    init_store(workspace)
    (workspace / ".env").write_text("DB_PASSWORD=FILE-S1\n")
    (workspace / "credentials.yaml").write_text("user: me\nkey: FILE-S2\n")
    (workspace / "conf" / "local").mkdir(parents=True)
    (workspace / "conf" / "local" / "db.yml").write_text("FILE-S3: x\n")
    (workspace / "server.pem").write_text("-----BEGIN FILE-S4-----\n")
    (workspace / "data.txt").write_text("plain data\n")
    _script(
        workspace,
        "job.py",
        "for p in ('.env', 'credentials.yaml', 'conf/local/db.yml', 'server.pem', 'data.txt'):\n"
        "    open(p).read()\n"
        "open('secrets.json', 'w').write('{\"token\": \"FILE-' + 'S5\"}')\n"
        "open('out.txt', 'w').write('done')\n",
    )
    first, _ = _run(cli, PYTHON, "job.py", "-p", "credentials.yaml")
    shown = assert_nowhere(cli, workspace, first, *(f"FILE-S{i}" for i in range(1, 6)))
    assert set(shown["inputs"]) == {"data.txt"}
    assert set(shown["outputs"]) == {"out.txt"}
    assert "key" not in shown["params"] and "user" not in shown["params"]
    found = shown["environment"]["secret_files"]
    assert set(found) == {
        ".env", "credentials.yaml", "conf/local/db.yml", "server.pem", "secrets.json",
    }  # fmt: skip
    assert found["secrets.json"]["role"] == "written" and found[".env"]["role"] == "read"
    key = workspace / ".mlvc" / "fingerprint.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600

    (workspace / ".env").write_text("DB_PASSWORD=FILE-S6\n")
    second, _ = _run(cli, PYTHON, "job.py", "-p", "credentials.yaml")
    diff = json.loads(cli("diff", first, second, "--json").ok().stdout)
    changed = {c["key"]: c["state"] for c in diff["runs"]["environment"]["fields"]}
    assert changed == {"secret_files..env": "changed"}
    assert_nowhere(cli, workspace, second, "FILE-S6")


def test_checkout_of_a_run_that_read_env_leaves_the_workspace_env_alone(
    cli, workspace: Path
) -> None:
    init_store(workspace)
    (workspace / "data").mkdir()
    (workspace / "data" / "x.txt").write_text("x\n")
    (workspace / "data" / ".env").write_text("TOKEN=OLD-S1\n")
    (workspace / ".env").write_text("TOKEN=OLD-S2\n")
    _script(
        workspace,
        "job.py",
        "open('.env').read(); open('data/x.txt').read(); open('data/.env').read()\n"
        "open('out.txt', 'w').write('done')\n",
    )
    run_id, _ = _run(cli, PYTHON, "job.py", flags=("-i", "data"))
    (workspace / ".env").write_text("TOKEN=NEW-S1\n")
    (workspace / "data" / ".env").write_text("TOKEN=NEW-S2\n")
    (workspace / "data" / "x.txt").write_text("y\n")
    (workspace / "out.txt").write_text("changed")
    cli("checkout", run_id, "--clean").ok()
    assert (workspace / "out.txt").read_text() == "done"
    assert (workspace / "data" / "x.txt").read_text() == "x\n"
    cli("checkout", run_id, "--inputs", "--clean", "--force").ok()
    assert (workspace / ".env").read_text() == "TOKEN=NEW-S1\n"
    assert (workspace / "data" / ".env").read_text() == "TOKEN=NEW-S2\n"
    assert_nowhere(cli, workspace, run_id, "OLD-S1", "OLD-S2", "NEW-S1", "NEW-S2")


def test_add_refuses_a_credentials_file(cli, workspace: Path) -> None:
    init_store(workspace)
    (workspace / ".env").write_text("TOKEN=ADD-S1\n")
    cli("add", ".env").clean_error(".env", "credentials")


def test_secret_files_stay_out_of_the_code_patch(cli, workspace: Path) -> None:
    git = ["git", "-C", str(workspace)]
    (workspace / "config").mkdir()
    (workspace / "config" / "secrets.yml").write_text("password: placeholder\n")
    (workspace / "train.py").write_text("print('v1')\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    init_store(workspace)
    (workspace / "config" / "secrets.yml").write_text("password: PATCH-S1\n")
    (workspace / "secrets.yaml").write_text("token: PATCH-S2\n")
    (workspace / "credentials.toml").write_text("key = 'PATCH-S3'\n")
    (workspace / "settings.yaml").write_text("api_key: PATCH-S4\nlr: 1\n")
    (workspace / "train.py").write_text("print('v2')\n")
    run_id, _ = _run(cli, PYTHON, "train.py")
    shown = assert_nowhere(cli, workspace, run_id, *(f"PATCH-S{i}" for i in range(1, 5)))
    code = shown["code"]
    assert code["withheld"] == [
        "config/secrets.yml", "credentials.toml", "secrets.yaml", "settings.yaml",
    ]  # fmt: skip
    patch = cli("cat-object", code["patch"]).ok().stdout
    assert b"print('v2')" in patch and b"secrets" not in patch


def test_secret_values_echoed_by_the_command_are_scrubbed_from_its_logs(
    cli, workspace: Path
) -> None:
    init_store(workspace)
    _script(
        workspace,
        "echo.py",
        "import os, sys\n"
        "print('token', os.environ['MY_API_TOKEN'], os.environ['DATABASE_URL'], flush=True)\n"
        "print('pw', sys.argv[2], file=sys.stderr)\n",
    )
    env = {"MY_API_TOKEN": "ENV-SECRET-1", "DATABASE_URL": "postgres://me:dbpass-2@db/x"}
    proc = subprocess.run(
        [str(Path(PYTHON).with_name("mlvc")), "run", "--", PYTHON, "echo.py", "--password",
         "ARGV-SECRET-3"],
        cwd=workspace, env=cli.env(env), capture_output=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # The terminal saw the output as printed.
    assert b"ENV-SECRET-1" in proc.stdout and b"ARGV-SECRET-3" in proc.stderr
    run_id = cli("log", "--json").ok().text()
    run_id = json.loads(run_id)["runs"][0]["id"]
    shown = assert_nowhere(cli, workspace, run_id, "ENV-SECRET-1", "dbpass-2", "ARGV-SECRET-3")
    stdout = cli("cat-object", shown["logs"]["stdout"]).ok().stdout
    assert stdout == b"token *** postgres://me:***@db/x\n"
    assert cli("cat-object", shown["logs"]["stderr"]).ok().stdout == b"pw ***\n"


def test_a_crash_log_is_private_redacted_and_kept_in_the_store(cli, workspace: Path) -> None:
    init_store(workspace)
    tmp = workspace / ".mlvc" / "tmp"
    os.rmdir(tmp)
    tmp.write_text("")  # `mlvc run` cannot make its spool: a bug-class failure (exit 3)
    crashed = cli("run", "--", "true", "--password", "CRASH-S1")
    assert crashed.returncode == 3, crashed.describe()
    logs = sorted((workspace / ".mlvc" / "logs").glob("mlvc-crash-*.log"))
    assert len(logs) == 1, crashed.describe()
    assert str(logs[0]) in crashed.stderr
    assert stat.S_IMODE(logs[0].stat().st_mode) == 0o600
    text = logs[0].read_text()
    assert "--password '***'" in text or "--password ***" in text
    assert "CRASH-S1" not in text and "Traceback" in text
    assert not list(cli.crash_dir.rglob("mlvc-crash-*.log"))  # nothing in TMPDIR
    assert "Traceback" in crashed.describe()  # the suite still attaches crash logs


def test_the_store_directory_is_private_to_its_owner(cli, workspace: Path) -> None:
    old = os.umask(0o022)
    try:
        init_store(workspace)
    finally:
        os.umask(old)
    assert stat.S_IMODE((workspace / ".mlvc").stat().st_mode) == 0o700


def test_configured_patterns_are_honoured(cli, workspace: Path) -> None:
    init_store(workspace)
    config = workspace / ".mlvc" / "config.toml"
    config.write_text(
        config.read_text() + '\n[secrets]\nnames = ["*license*"]\nfiles = ["vault/*"]\n'
    )
    (workspace / "vault").mkdir()
    (workspace / "vault" / "db.txt").write_text("CONF-S1\n")
    _script(workspace, "job.py", "open('vault/db.txt').read()\n")
    run_id, _ = _run(cli, PYTHON, "job.py", "--license-key", "CONF-S2", "--seats=3")
    shown = assert_nowhere(cli, workspace, run_id, "CONF-S1", "CONF-S2")
    assert shown["params"]["args.license_key"] == "***"
    assert shown["params"]["args.seats"] == 3
    assert shown["inputs"] == {}
    assert set(shown["environment"]["secret_files"]) == {"vault/db.txt"}


def test_secret_values_of_a_config_are_scrubbed_from_the_logs_of_a_run_that_echoes_them(
    cli, workspace: Path
) -> None:
    init_store(workspace)
    (workspace / "params.yaml").write_text(
        "lr: 0.5\ndb_url: postgres://me:URL-PASS-7@db/x\nservice:\n  api_token: CFG-TOKEN-8\n"
    )
    _script(
        workspace,
        "train.py",
        "import yaml\nc = yaml.safe_load(open('params.yaml'))\n"
        "print('connecting to', c['db_url'], 'with', c['service']['api_token'])\n",
    )
    run_id, _ = _run(cli, PYTHON, "train.py")
    shown = assert_nowhere(cli, workspace, run_id, "URL-PASS-7", "CFG-TOKEN-8")
    stdout = cli("cat-object", shown["logs"]["stdout"]).ok().stdout
    assert stdout == b"connecting to postgres://me:***@db/x with ***\n"
    assert shown["params"]["lr"] == 0.5
    assert "params.yaml" in shown["environment"]["secret_files"]


def test_a_config_holding_a_url_password_is_withheld_like_a_secret_key(
    cli, workspace: Path
) -> None:
    init_store(workspace)
    (workspace / "config.yaml").write_text("epochs: 3\ndb_url: mysql://app:URL-PASS-9@db/x\n")
    _script(workspace, "train.py", "open('config.yaml').read()\n")
    run_id, _ = _run(cli, PYTHON, "train.py")
    shown = assert_nowhere(cli, workspace, run_id, "URL-PASS-9")
    assert shown["params"]["epochs"] == 3
    assert shown["params"]["db_url"] == "mysql://app:***@db/x"
    assert "config.yaml" not in shown["inputs"]
    assert "config.yaml" in shown["environment"]["secret_files"]
