"""mlvc.secrets: which names and files are secret, argv and URL redaction, log scrubbing,
keyed fingerprints, and the `[secrets]` config section."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlvc import config, secrets, urls
from mlvc.errors import ConfigError
from mlvc.secrets import REDACTED, Patterns, Scrubber

RULES = secrets.DEFAULT


@pytest.mark.parametrize(
    "key",
    [
        "api_key", "apikey", "apiKey", "API_KEY", "password", "passwd", "db.pass", "secret",
        "token", "hf_token", "access_key", "secret_key", "aws_secret_access_key",
        "private_key", "privateKey", "credential", "credentials", "auth", "db.auth",
        "client_secret", "aws.storage_key", "credentials.signing_key", "conf.yaml:db.password",
    ],
)  # fmt: skip
def test_secret_looking_keys(key: str) -> None:
    assert RULES.is_secret_name(key)


@pytest.mark.parametrize(
    "key",
    [
        "lr", "max_tokens", "pad_token", "eos_token", "tokenizer", "author", "auth_method",
        "pass_through", "sort_key", "key", "num_passes", "credentials.user", "model.key",
        "access_key_id", "passage",
    ],
)  # fmt: skip
def test_ordinary_keys_are_not_secret(key: str) -> None:
    assert not RULES.is_secret_name(key)


def test_environment_variables_ending_in_key_are_secret_but_pwd_and_sockets_are_not() -> None:
    for name in ("OPENAI_API_KEY", "STRIPE_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASS"):
        assert RULES.is_secret_variable(name), name
    for name in ("PWD", "PATH", "KEYBOARD_LAYOUT", "SSH_AUTH_SOCK", "HOME"):
        assert not RULES.is_secret_variable(name), name


@pytest.mark.parametrize(
    "rel",
    [
        ".env", ".env.local", "sub/.env", "credentials.json", "Credentials.YAML",
        "secrets.toml", "certs/server.pem", "tls.key", ".netrc", ".pgpass", "id_rsa",
        "conf/local/anything.yml", "proj/conf/local/db.yml", "client_secret_123.json",
    ],
)  # fmt: skip
def test_credential_files(rel: str) -> None:
    assert RULES.is_secret_file(rel)


@pytest.mark.parametrize(
    "rel", ["params.yaml", "train.py", "conf/base/catalog.yml", "keys.txt", "environment.yml"]
)
def test_ordinary_files_are_not_credentials(rel: str) -> None:
    assert not RULES.is_secret_file(rel)


def test_configured_patterns_add_to_the_built_in_ones() -> None:
    rules = Patterns(names=("*license*",), files=("conf/prod/*", "*.lic"))
    assert rules.is_secret_name("vendor.license_id") and rules.is_secret_name("LICENSE")
    assert rules.is_secret_variable("MY_LICENSE")
    assert rules.is_secret_file("conf/prod/db/x.yaml") and rules.is_secret_file("a/b/tool.LIC")
    assert rules.is_secret_name("password") and rules.is_secret_file(".env")
    assert not rules.is_secret_file("conf/dev/x.yaml")


def test_argv_values_of_secret_options_are_redacted_by_name_only() -> None:
    argv = [
        "python", "train.py", "--api-key=S1", "--password", "S2", "--token", "S3",
        "db.pass=S4", "++db.password=S5", "--lr", "0.1", "-p", "visible",
        "--token", "--flag", "--url", "https://u:S6/x@example.com/db",
    ]  # fmt: skip
    done = secrets.redact_argv(argv)
    assert done.argv == [
        "python", "train.py", f"--api-key={REDACTED}", "--password", REDACTED, "--token",
        REDACTED, f"db.pass={REDACTED}", f"++db.password={REDACTED}", "--lr", "0.1", "-p",
        "visible", "--token", "--flag", "--url", f"https://u:{REDACTED}@example.com/db",
    ]  # fmt: skip
    assert done.values == ["S1", "S2", "S3", "S4", "S5", "S6/x"]
    assert secrets.redacted_arguments(done.argv) == [
        f"--api-key={REDACTED}", REDACTED, REDACTED, f"db.pass={REDACTED}",
        f"++db.password={REDACTED}", f"https://u:{REDACTED}@example.com/db",
    ]  # fmt: skip
    assert secrets.redacted_arguments(argv) == []


def test_overrides_are_redacted_wherever_they_stand() -> None:
    argv = [
        "kedro", "run", "--params", "lr=1,db.password=S1,n=2", "--params=api.token=S2",
        "--set", "x=1,aws.secret_key=S3", "db_url=postgres://u:S4@db/x",
        "--conf=url=https://u:S5@h/x", "tags=a,b", "~old", "db={user: u, password: S6}",
        "opt={lr: 1}",
    ]  # fmt: skip
    done = secrets.redact_argv(argv)
    assert done.argv == [
        "kedro", "run", "--params", f"lr=1,db.password={REDACTED},n=2",
        f"--params=api.token={REDACTED}", "--set", f"x=1,aws.secret_key={REDACTED}",
        f"db_url=postgres://u:{REDACTED}@db/x", f"--conf=url=https://u:{REDACTED}@h/x",
        "tags=a,b", "~old", f"db={REDACTED}", "opt={lr: 1}",
    ]  # fmt: skip
    assert done.values == ["S1", "S2", "S3", "S4", "S5", "{user: u, password: S6}", "S6"]
    with pytest.raises(secrets.RedactedCommandError):
        secrets.check_reproducible("3f2a9c1e", done.argv)


def test_urls_inside_list_and_mapping_overrides_are_redacted() -> None:
    argv = ["x=[postgres://u:S1@h/db,2]", "y={url: 'https://a:S2@c/p'}", "see https://h/a?b"]
    done = secrets.redact_argv(argv)
    assert done.argv == [
        f"x=[postgres://u:{REDACTED}@h/db,2]", f"y={{url: 'https://a:{REDACTED}@c/p'}}",
        "see https://h/a?b",
    ]  # fmt: skip
    assert done.values == ["S1", "S2"]


def test_url_passwords_in_params_values_are_redacted() -> None:
    params = {"db_url": "postgres://u:S1@h/x", "urls": ["https://a:S2@c", 3], "lr": 0.1}
    assert secrets.redact_params(params) == {
        "db_url": f"postgres://u:{REDACTED}@h/x", "urls": [f"https://a:{REDACTED}@c", 3],
        "lr": 0.1,
    }  # fmt: skip


def test_a_redacted_command_is_not_reproducible() -> None:
    with pytest.raises(secrets.RedactedCommandError) as caught:
        secrets.check_reproducible("3f2a9c1e", ["python", "x.py", f"--token={REDACTED}"])
    assert "cannot be re-executed" in caught.value.message
    assert caught.value.hint
    secrets.check_reproducible("3f2a9c1e", ["python", "x.py", "--lr", "0.1"])


@pytest.mark.parametrize(
    ("url", "expected", "password"),
    [
        ("https://user:p#ss@example.com/x.git", "https://example.com/x.git", "p#ss"),
        ("https://user:p?ss@example.com/x.git", "https://example.com/x.git", "p?ss"),
        ("https://user:p/ss@example.com/x.git", "https://example.com/x.git", "p/ss"),
        ("https://user:a/b?c#d@e@example.com:8443/x.git", "https://example.com:8443/x.git",
         "a/b?c#d@e"),
        ("https://example.com/org/x@v1", "https://example.com/org/x@v1", None),
        ("ssh://git:p#w@example.com/x", "ssh://git@example.com/x", "p#w"),
    ],
)  # fmt: skip
def test_urls_with_special_characters_in_passwords(
    url: str, expected: str, password: str | None
) -> None:
    assert urls.strip_url(url) == expected
    assert urls.redact_url(url)[1] == password


def test_known_values_come_from_secret_variables_and_url_passwords() -> None:
    env = {
        "HF_TOKEN": "hf_abcdefgh",
        "DATABASE_URL": "postgres://me:dbpass123@db/x",
        "OMP_NUM_THREADS": "4",
        "API_KEY": "short",  # under MIN_SECRET_LENGTH: not searched for
        "HOME": "/home/me",
    }
    assert secrets.known_values(env, ["argvsecret"]) == ["argvsecret", "dbpass123", "hf_abcdefgh"]


@given(
    st.lists(st.binary(max_size=40), max_size=30),
    st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=20),
)
def test_scrubbing_is_the_same_whatever_the_pieces(parts: list[bytes], cuts: list[int]) -> None:
    values = ["s3cr3t-value", "hunter22", "s3cr3t"]
    text = b"s3cr3t-value".join(parts) + b"hunter22" + b"x".join(parts)
    whole = Scrubber(values)
    expected = whole.feed(text) + whole.finish()
    pieces, position = [], 0
    for cut in cuts * (len(text) // sum(cuts) + 1):
        pieces.append(text[position : position + cut])
        position += cut
    scrubber = Scrubber(values)
    got = b"".join(scrubber.feed(p) for p in pieces) + scrubber.finish()
    assert got == expected
    for value in values:
        assert value.encode() not in got


def test_fingerprints_are_keyed_per_repository(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    secret = tmp_path / ".env"
    secret.write_text("TOKEN=abc\n")
    first = secrets.fingerprint(tmp_path / "a", secret)
    assert first == secrets.fingerprint(tmp_path / "a", secret)
    assert first != secrets.fingerprint(tmp_path / "b", secret)
    key = tmp_path / "a" / secrets.KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_bytes()) == 32
    assert secrets.fingerprint(tmp_path / "a", tmp_path / "missing") is None


def test_secrets_section_round_trips_through_the_config(tmp_path: Path) -> None:
    rules = config.SecretRules(names=("*license*",), files=("conf/prod/*",))
    path = tmp_path / "config.toml"
    path.write_text(config.Config(config.FORMAT, config.ChunkParams(), rules).render())
    assert config.load(path).secrets == rules
    default = tmp_path / "default.toml"
    default.write_text(config.default().render())
    assert "[secrets]" not in default.read_text()
    assert config.load(default).secrets == config.SecretRules()


@pytest.mark.parametrize(
    "section", ['[secrets]\nnames = "x"\n', "[secrets]\nfiles = [1]\n", "[secrets]\nother = []\n"]
)
def test_a_malformed_secrets_section_is_a_config_error(tmp_path: Path, section: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(config.default().render() + "\n" + section)
    with pytest.raises(ConfigError):
        config.load(path)


def test_the_byte_prefilter_admits_every_secret_looking_name() -> None:
    names = ["password", "DB_PASS", "apiKey", "hf_token", "Bearer", "auth", "aws.storage_key"]
    for name in names:
        assert RULES.is_secret_name(name)
        assert RULES.may_hold_secret_names(f"{name}: x\n".encode()), name
    assert not RULES.may_hold_secret_names(b"lr: 0.1\nepochs: 3\n")
    assert Patterns(names=("*license*",)).may_hold_secret_names(b"lr: 0.1\n")
