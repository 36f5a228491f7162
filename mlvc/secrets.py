"""What mlvc never stores: secret-looking names and credential files, how their values are
redacted (argv, params, logs) and how a credential file is fingerprinted instead of stored.

The patterns are built in; `[secrets]` in `.mlvc/config.toml` adds glob patterns (see
docs/security.md). Everything here is plain string work: it runs on every scanned file.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from mlvc import overrides, urls
from mlvc.errors import MlvcError
from mlvc.paths import Globs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

REDACTED = urls.REDACTED
"""What stands in for a secret value in a run's command, params and logs."""

MIN_SECRET_LENGTH = 6
"""Shorter values of secret-looking variables are not searched for in logs: replacing
every `1` or `true` would garble the logs and protect nothing."""

KEY_FILE = "fingerprint.key"

# Words of a name (split at `_`, `-`, `.` and camelCase humps) that make it secret
# wherever they stand, and words that do so only last (`db.pass`, `hf_token`, but not
# `pass_through`, `token_budget`, `auth_method`).
_SECRET_WORDS = frozenset(
    {
        "password", "passwd", "passphrase", "secret", "secrets", "apikey", "apitoken",
        "authtoken", "accesstoken", "refreshtoken", "accesskey", "secretkey", "privatekey",
        "credential", "credentials", "authorization", "bearer",
    }
)  # fmt: skip
_SECRET_LAST_WORDS = frozenset({"pass", "auth", "token"})
# A tokenizer's special tokens are params, not secrets (`pad_token: "[PAD]"`).
_TOKEN_KINDS = frozenset({"pad", "bos", "eos", "unk", "sep", "cls", "mask", "start", "end",
                          "special"})  # fmt: skip
# `X_key` is secret for these X; `key` alone (a sort key, a PRNG key) is not.
_KEY_QUALIFIERS = frozenset({"api", "access", "private", "signing", "encryption", "master", "ssh"})
# A `*_key` inside one of these sections is secret (`aws.storage_key`, `auth.hmac_key`).
_CREDENTIAL_SECTIONS = frozenset(
    {"credential", "credentials", "secret", "secrets", "auth", "aws", "gcp", "azure", "s3",
     "oauth", "vault", "keys", "api"}
)  # fmt: skip

# Credential files by name (lower-cased), name prefix, suffix, and Kedro's local config.
SECRET_FILE_NAMES = frozenset(
    {".env", ".netrc", "_netrc", ".pgpass", ".git-credentials", ".pypirc", ".npmrc",
     ".htpasswd", "credentials", "secrets", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"}
)  # fmt: skip
SECRET_FILE_PREFIXES = ("credentials.", "secrets.", ".env.", "id_rsa", "id_dsa", "id_ecdsa",
                        "id_ed25519", "client_secret")  # fmt: skip
SECRET_FILE_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk", ".kdbx")
_SUFFIX_SET = frozenset(SECRET_FILE_SUFFIXES)
_PREFIX_FIRST = frozenset(prefix[0] for prefix in SECRET_FILE_PREFIXES)
_SECRET_DIR = "conf/local/"  # Kedro's local config, at any depth

# Any variable name containing one of these never has its value recorded in a run's
# environment, even an allowlisted one: stricter than is_secret_variable, on purpose.
SECRET_NAME_HINT = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|AUTH|PRIVATE", re.I)
# Every secret-looking name contains one of these (in some case): see _secret_words.
_SECRET_BYTES = re.compile(rb"(?i)pass|secret|token|key|auth|credential|bearer")
_HUMP = re.compile(r"([a-z0-9])([A-Z])|([A-Z]+)([A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


class RedactedCommandError(MlvcError):
    pass


def _words(name: str) -> list[str]:
    spaced = _HUMP.sub(lambda m: "_".join(g for g in m.groups() if g), name)
    return [w for w in _NON_WORD.split(spaced.lower()) if w]


def _secret_words(words: Sequence[str], key_alone: bool) -> bool:
    if not words:
        return False
    if any(word in _SECRET_WORDS for word in words):
        return True
    last, before = words[-1], words[-2] if len(words) > 1 else ""
    if last in _SECRET_LAST_WORDS:
        return last != "token" or before not in _TOKEN_KINDS
    if last not in ("key", "keys"):
        return False
    return key_alone or before in _KEY_QUALIFIERS


class Patterns:
    """The built-in patterns plus a repository's own (`[secrets]` in its config)."""

    __slots__ = ("_files", "_names")

    def __init__(self, names: Sequence[str] = (), files: Sequence[str] = ()) -> None:
        self._names = _globs(names)
        self._files = _globs(files)

    def is_secret_name(self, key: str) -> bool:
        """A param, option or config key (`db.password`, `api-key`, `aws.secret_key`)."""
        key = key.rpartition(":")[2]  # `source:key`, a key two sources both set
        parts = key.split(".")
        last = _words(parts[-1])
        if _secret_words(last, key_alone=False):
            return True
        if (
            last
            and last[-1] == "key"
            and any(_CREDENTIAL_SECTIONS.intersection(_words(part)) for part in parts[:-1])
        ):
            return True
        return self._names is not None and self._names.match(key, parts[-1])

    def may_hold_secret_names(self, data: bytes) -> bool:
        """False when `data` cannot hold a secret-looking key: none of the words that make
        one appears in it. Spares parsing (and importing a YAML parser for) most configs."""
        return self._names is not None or _SECRET_BYTES.search(data) is not None

    def is_secret_variable(self, name: str) -> bool:
        """An environment variable: as a key, and any `*_KEY` (`STRIPE_KEY`) too."""
        if _secret_words(_words(name), key_alone=True):
            return True
        return self._names is not None and self._names.match(name, name)

    def is_secret_file(self, rel: str, name: str | None = None) -> bool:
        """A workspace-relative path whose bytes are never stored (see SECRET_FILE_*).
        Every scanned file passes through here (`mlvc status`): keep it plain."""
        lower = (rel.rpartition("/")[2] if name is None else name).lower()
        if lower in SECRET_FILE_NAMES:
            return True
        dot = lower.rfind(".")
        if dot >= 0 and lower[dot:] in _SUFFIX_SET:
            return True
        if lower[:1] in _PREFIX_FIRST and lower.startswith(SECRET_FILE_PREFIXES):
            return True
        if _SECRET_DIR in rel and (rel.startswith(_SECRET_DIR) or f"/{_SECRET_DIR}" in rel):
            return True
        files = self._files
        return files is not None and files.match(rel, lower)


def _globs(patterns: Sequence[str]) -> Globs | None:
    return Globs(tuple(patterns)) if patterns else None


DEFAULT = Patterns()


@functools.lru_cache(maxsize=8)
def patterns(names: tuple[str, ...] = (), files: tuple[str, ...] = ()) -> Patterns:
    """The patterns of a repository's config (`config.secrets`), built once per process."""
    return Patterns(names, files) if names or files else DEFAULT


# -- argv --------------------------------------------------------------------------


class RedactedArgv(NamedTuple):
    argv: list[str]
    values: list[str]  # the secret values taken out, to scrub from the logs too


def redact_argv(argv: Sequence[str], rules: Patterns = DEFAULT) -> RedactedArgv:
    """`argv` with the values of secret-looking options replaced by REDACTED:
    `--api-key=S`, `--password S`, overrides `db.pass=S` (Hydra), `--params a=1,db.pass=S`
    and `--params=db.pass=S` (Kedro), and passwords inside URLs, also as override values.

    Only long options are judged, by name: `-p S` is left as it is.
    """
    out: list[str] = []
    values: list[str] = []
    pending = False  # the previous token was a secret option waiting for its value
    for arg in argv:
        if pending and not (arg.startswith("--") or arg == "-" * len(arg)):
            values.append(arg)
            out.append(REDACTED)
            pending = False
            continue
        pending = False
        if arg.startswith("--") and len(arg) > 2:
            name, sep, value = arg[2:].partition("=")
            if rules.is_secret_name(name):
                if sep:
                    values.append(value)
                    out.append(f"--{name}={REDACTED}")
                else:
                    pending = True
                    out.append(arg)
                continue
            if sep and (found := overrides.parse(value)) is not None:
                out.append(f"--{name}={_redact_assignments(found, rules, values)}")
                continue
        elif (found := overrides.parse(arg)) is not None:
            out.append(_redact_assignments(found, rules, values))
            continue
        out.append(_redact_url(arg, values))
    return RedactedArgv(out, [v for v in values if v and v != REDACTED])


def _redact_assignments(
    found: list[overrides.Assignment], rules: Patterns, values: list[str]
) -> str:
    """Overrides written back with the values of secret-looking keys (and mappings that
    hold one: `db={password: S}`), and passwords in URL values, redacted; what was taken
    out is added to `values`."""
    shown: list[str | None] = []
    for assignment in found:
        inner = [v for k, v in overrides.leaves(assignment) if rules.is_secret_name(k)]
        if assignment.value is None:
            shown.append(None)
        elif inner or rules.is_secret_name(assignment.key):
            values += [assignment.value, *(v for v in inner if isinstance(v, str))]
            shown.append(REDACTED)
        else:
            shown.append(_redact_url(assignment.value, values))
    return overrides.join(found, shown)


def _redact_url(text: str, values: list[str]) -> str:
    clean, passwords = urls.redact_urls(text)
    values += passwords
    return clean


def redacted_arguments(command: Sequence[str]) -> list[str]:
    """The arguments of a recorded command that hold a redacted value."""
    marks = (REDACTED, f"={REDACTED}", f":{REDACTED}@", f"//{REDACTED}@")
    return [arg for arg in command if arg == REDACTED or any(m in arg for m in marks[1:])]


def check_reproducible(run: str, command: Sequence[str]) -> None:
    """Refuse to re-execute a command whose secret values were never recorded."""
    hidden = redacted_arguments(command)
    if hidden:
        raise RedactedCommandError(
            f"run {run} cannot be re-executed as recorded: its command had secret values,"
            f" recorded as {REDACTED} ({', '.join(hidden)})",
            hint="run the command again with 'mlvc run -- ...', or pass secrets to it"
            " through environment variables, which are never recorded",
        )


# -- params ------------------------------------------------------------------------


def redact_params(params: Mapping[str, Any], rules: Patterns = DEFAULT) -> dict[str, Any]:
    """Params with the value of every secret-looking key replaced by REDACTED, and the
    password of a URL in any text value (a `db_url` in params.yaml) too."""
    return {
        k: REDACTED if rules.is_secret_name(k) else _no_url_password(v) for k, v in params.items()
    }


def _no_url_password(value: Any) -> Any:
    if isinstance(value, str):
        return urls.redact_urls(value)[0] if "://" in value else value
    if isinstance(value, list):
        return [_no_url_password(item) for item in value]
    return value


# -- logs --------------------------------------------------------------------------


def known_values(
    env: Mapping[str, str], argv_values: Iterable[str] = (), rules: Patterns = DEFAULT
) -> list[str]:
    """Secret values a command may echo: those of secret-looking environment variables,
    passwords in URL-valued variables, and the secret values of its argv."""
    found = set(argv_values)
    for name, value in env.items():
        if rules.is_secret_variable(name):
            found.add(value)
        elif "://" in value:
            found.add(urls.redact_url(value)[1] or "")
    return sorted(v for v in found if len(v) >= MIN_SECRET_LENGTH and v != REDACTED)


class Scrubber:
    """Replaces known secret values in a byte stream fed in arbitrary pieces."""

    def __init__(self, values: Iterable[str]) -> None:
        encoded = sorted({v.encode("utf-8", "surrogateescape") for v in values}, key=len)
        self._longest = len(encoded[-1]) if encoded else 0
        alternatives = b"|".join(re.escape(v) for v in reversed(encoded))
        self._pattern = re.compile(alternatives) if encoded else None
        self._carry = b""

    def feed(self, data: bytes) -> bytes:
        if self._pattern is None:
            return data
        buffer = self._carry + data
        # A match starting before `cut` lies wholly in the buffer; later ones may not yet.
        cut = len(buffer) - (self._longest - 1)
        out, pos = [], 0
        for match in self._pattern.finditer(buffer):
            if match.start() >= cut:
                break
            out += [buffer[pos : match.start()], REDACTED.encode()]
            pos = match.end()
        end = max(pos, cut)
        out.append(buffer[pos:end])
        self._carry = buffer[end:]
        return b"".join(out)

    def finish(self) -> bytes:
        if self._pattern is None:
            return b""
        rest, self._carry = self._carry, b""
        return self._pattern.sub(REDACTED.encode(), rest)

    def text(self, text: str) -> str:
        """One whole text, scrubbed."""
        data = self.feed(text.encode("utf-8", "surrogateescape")) + self.finish()
        return data.decode("utf-8", "surrogateescape")


# -- fingerprints ------------------------------------------------------------------


def fingerprint(store_dir: Path, path: Path) -> str | None:
    """BLAKE3 of the file keyed with the repository's own random key (hex), or None when
    it cannot be read. Keyed, so that a shared run object does not let anyone test
    guesses of a short secret file against it."""
    import blake3

    hasher = blake3.blake3(key=_key(store_dir))
    try:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                hasher.update(block)
    except OSError:
        return None
    return hasher.hexdigest()


def _key(store_dir: Path) -> bytes:
    """`.mlvc/fingerprint.key`: 32 random bytes, mode 0600, created on first use. It is
    written under a temporary name and linked into place, so a concurrent reader sees
    either no key or the whole key."""
    path = store_dir / KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = b""
    if len(key) == 32:
        return key
    tmp = store_dir / f"{KEY_FILE}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, os.urandom(32))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process won: use its key
    finally:
        tmp.unlink()
    return path.read_bytes()
