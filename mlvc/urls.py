"""Credentials inside URLs: found without trusting the URL to be well formed (a password
may hold an unencoded `#`, `?`, `/` or `@`), then removed or redacted."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from urllib.parse import SplitResult

REDACTED = "***"  # what stands in place of a secret everywhere mlvc records or prints
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:[]%")
_SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})


def redact_url(text: str) -> tuple[str, str | None]:
    """A URL with its password replaced by REDACTED, and the password; else (text, None)."""
    scheme, sep, rest = text.partition("://")
    if not sep or "@" not in rest or not _is_scheme(scheme):
        return text, None
    userinfo, host = split_userinfo(rest)
    if userinfo is None:
        return text, None
    user, colon, password = userinfo.partition(":")
    # `https://TOKEN@host`: the user is the token; `ssh://git@host`: the user is a user.
    secret = password if colon or scheme.lower() in _SSH_SCHEMES else user
    if not secret:
        return text, None
    kept = f"{user}:{REDACTED}" if colon else REDACTED
    return f"{scheme}://{kept}@{host}", secret


def redact_urls(text: str) -> tuple[str, list[str]]:
    """`redact_url` for a text that is a URL or holds URLs among other characters (an
    override's list or mapping value: `x=[postgres://u:S@h/db, ...]`): each URL runs
    from its scheme to the next space, comma, quote or closing bracket. Returns the text
    and the passwords taken out."""
    whole, password = redact_url(text)
    if password is not None or "://" not in text:
        return whole, [password] if password else []
    import re

    found: list[str] = []

    def one(match: re.Match[str]) -> str:
        clean, secret = redact_url(match.group(0))
        found.extend([secret] if secret else [])
        return clean

    return re.sub(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s,'\"\]})]+", one, text), found


def split_userinfo(rest: str) -> tuple[str | None, str]:
    """Split what follows `scheme://` into (userinfo, the rest from the host on).

    Passwords may hold a raw `@`, `/`, `?` or `#`, which a URL parser takes for the end of
    the authority: the userinfo ends at the first `@` followed by a plausible host. A
    userinfo holding `/`, `?` or `#` must be `user:password`, so that `host/path@v1`
    is not taken for credentials.
    """
    start = 0
    while (at := rest.find("@", start)) >= 0:
        start = at + 1
        userinfo, host = rest[:at], rest[at + 1 :]
        authority = _urlsplit(f"x://{host}").netloc if _plain(host) else ""
        if not authority or "@" in authority or not set(authority) <= _HOST_CHARS:
            continue
        cut = min((i for i in map(userinfo.find, "/?#") if i >= 0), default=-1)
        if cut >= 0 and ":" not in userinfo[:cut]:
            return None, rest
        return userinfo, host
    return None, rest


def _urlsplit(url: str) -> SplitResult:
    # Imported when a URL is there to split: `status` imports this module (through the
    # secret patterns) and, from Python 3.13 on, nothing else it runs imports urllib.parse.
    from urllib.parse import urlsplit

    return urlsplit(url)


def _is_scheme(text: str) -> bool:
    return text[:1].isalpha() and text.replace("+", "").replace(".", "").replace("-", "").isalnum()


def _plain(host: str) -> bool:
    try:
        _urlsplit(f"x://{host}")
    except ValueError:  # an unbalanced `[` of an IPv6 address
        return False
    return True


def strip_url(url: str) -> str:
    """`url` without a password, token, query string or fragment; never raises.

    `https://user:pass@host/x.git` and `https://TOKEN@host/x.git` become `https://host/x.git`;
    `ssh://git@host/x` and scp-like `git@host:org/x.git` keep the user, which is not a secret.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not _is_scheme(scheme):
        return _strip_scp(url)
    userinfo, host = split_userinfo(rest)
    try:
        parts = _urlsplit(f"{scheme}://{host}")
    except ValueError:
        return f"{scheme}://{host.split('?')[0].split('#')[0]}"
    user = ""
    if userinfo and scheme.lower() in _SSH_SCHEMES:
        user = userinfo.partition(":")[0] + "@"
    return f"{parts.scheme}://{user}{parts.netloc}{parts.path}"


def _strip_scp(url: str) -> str:
    """scp-like `user:password@host:path` keeps only the user."""
    start = 0
    while (at := url.find("@", start)) >= 0:
        start = at + 1
        host = url[at + 1 :].partition(":")[0]
        if host and set(host) <= _HOST_CHARS and "/" not in url[:at].partition(":")[0]:
            return f"{url[:at].partition(':')[0]}@{url[at + 1 :]}"
    return url
