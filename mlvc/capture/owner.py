"""Who ran a run: OS user, host, git identity, and the CI job when there is one.

The one place the OS user is named: runs, snapshots and tag moves all record `os_user`,
so `log --owner` never splits one person in two. Cheap to import (git and URL handling
load on use): `add` and `checkout` name their owner on the fast path.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from mlvc.git import StartedGit

CI_FIELDS = ("run_id", "job", "repository", "actor", "url")
# user.name and user.email in one git call; outside a repository, the global config.
IDENTITY = ("config", "-z", "--get-regexp", r"^user\.(name|email)$")

# (system, marker variable, field -> variable), most specific first: most of these systems
# also set the generic CI=true, which alone only says "some CI".
CI_SYSTEMS: tuple[tuple[str, str, dict[str, str]], ...] = (
    (
        "github-actions",
        "GITHUB_ACTIONS",
        {
            "run_id": "GITHUB_RUN_ID",
            "job": "GITHUB_JOB",
            "repository": "GITHUB_REPOSITORY",
            "actor": "GITHUB_ACTOR",
        },
    ),
    (
        "gitlab-ci",
        "GITLAB_CI",
        {
            "run_id": "CI_PIPELINE_ID",
            "job": "CI_JOB_ID",
            "repository": "CI_PROJECT_PATH",
            "actor": "GITLAB_USER_LOGIN",
            "url": "CI_JOB_URL",
        },
    ),
    (
        "jenkins",
        "JENKINS_URL",
        {
            "run_id": "BUILD_TAG",
            "job": "JOB_NAME",
            "repository": "GIT_URL",
            "actor": "BUILD_USER_ID",
            "url": "BUILD_URL",
        },
    ),
    (
        "buildkite",
        "BUILDKITE",
        {
            "run_id": "BUILDKITE_BUILD_ID",
            "job": "BUILDKITE_JOB_ID",
            "repository": "BUILDKITE_REPO",
            "actor": "BUILDKITE_BUILD_CREATOR",
            "url": "BUILDKITE_BUILD_URL",
        },
    ),
    (
        "circleci",
        "CIRCLECI",
        {
            "run_id": "CIRCLE_WORKFLOW_ID",
            "job": "CIRCLE_JOB",
            "repository": "CIRCLE_REPOSITORY_URL",
            "actor": "CIRCLE_USERNAME",
            "url": "CIRCLE_BUILD_URL",
        },
    ),
    (
        "azure-pipelines",
        "TF_BUILD",
        {
            "run_id": "BUILD_BUILDID",
            "job": "AGENT_JOBNAME",
            "repository": "BUILD_REPOSITORY_NAME",
            "actor": "BUILD_REQUESTEDFOR",
        },
    ),
    (
        "travis-ci",
        "TRAVIS",
        {"run_id": "TRAVIS_BUILD_ID", "job": "TRAVIS_JOB_ID", "repository": "TRAVIS_REPO_SLUG"},
    ),
)


def owner(
    env: Mapping[str, str], workspace: Path, identity: StartedGit | None = None
) -> dict[str, Any]:
    """The OS user, host name, git user.name/user.email (as seen from `workspace`) and CI
    job. `identity`: the git call for the names (IDENTITY in `workspace`), if started."""
    git_name, git_email = _git_identity(workspace, env, identity)
    return {
        "user": os_user(env),
        "host": host_name(),
        "git_name": git_name,
        "git_email": git_email,
        "ci": ci_identity(env),
    }


def local_owner(env: Mapping[str, str]) -> dict[str, str]:
    """The OS user and host: the owner of a snapshot (`add`, or what checkout stored)."""
    return {"user": os_user(env), "host": host_name()}


def host_name() -> str:
    """This machine's name as gethostname(2) gives it (the kernel's node name, which is
    what libc's gethostname reads), without importing `socket` (~2 ms of a run)."""
    return os.uname().nodename


def ci_identity(env: Mapping[str, str]) -> dict[str, str | None] | None:
    """The CI system and job from its environment variables; None when not under CI."""
    for system, marker, fields in CI_SYSTEMS:
        if _is_set(env.get(marker)):
            found = {field: _clean(env.get(fields.get(field, ""))) for field in CI_FIELDS}
            if system == "github-actions":
                found["url"] = _github_run_url(env)
            return {"system": system, **found}
    if _is_set(env.get("CI")):
        return {"system": "unknown", **dict.fromkeys(CI_FIELDS)}
    return None


def _github_run_url(env: Mapping[str, str]) -> str | None:
    server = env.get("GITHUB_SERVER_URL", "https://github.com")
    repository, run_id = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    if not (repository and run_id):
        return None
    from mlvc.capture.gitinfo import strip_credentials

    return strip_credentials(f"{server.rstrip('/')}/{repository}/actions/runs/{run_id}")


def _clean(value: str | None) -> str | None:
    # Repository and build URLs can embed a token (Jenkins' GIT_URL, Buildkite's repo).
    from mlvc.capture.gitinfo import strip_credentials

    return strip_credentials(value) if value else None


def _is_set(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false", "no")


def os_user(env: Mapping[str, str]) -> str:
    """The account's name from the password database (not $LOGNAME, which anyone can
    set), else $USER/$LOGNAME, else the uid."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without a passwd entry, common in containers run with --user
        return env.get("USER") or env.get("LOGNAME") or str(uid)


def _git_identity(
    workspace: Path, env: Mapping[str, str], identity: StartedGit | None
) -> tuple[str | None, str | None]:
    from mlvc.git import run_git

    done = identity.result() if identity is not None else run_git(IDENTITY, workspace, env)
    if done is None or done.returncode != 0:  # no git, or neither key set (exit 1)
        return None, None
    found: dict[str, str] = {}
    # Entries come system, global, local: a later (more local) value overrides.
    for entry in done.stdout.split(b"\0"):
        key, _, value = entry.partition(b"\n")
        found[key.decode("ascii", "replace").lower()] = value.decode("utf-8", "replace")
    return found.get("user.name") or None, found.get("user.email") or None
