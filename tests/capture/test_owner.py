"""owner(): OS user, host, git identity and CI detection."""

from __future__ import annotations

import os
import pwd
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from mlvc.capture.owner import ci_identity, owner

Git = Callable[..., str]


@pytest.fixture
def env() -> dict[str, str]:
    # The conftest fixture points HOME at an empty temp dir: no global git identity yet.
    return dict(os.environ)


def test_user_and_host(workspace: Path, env: dict[str, str]) -> None:
    found = owner(env, workspace)
    assert found["user"] == pwd.getpwuid(os.getuid()).pw_name
    assert found["host"] == socket.gethostname()
    assert found["git_name"] is None
    assert found["git_email"] is None


def test_repo_local_git_identity_wins(workspace: Path, git: Git, env: dict[str, str]) -> None:
    git("config", "--global", "user.name", "Global Name", cwd=workspace)
    git("config", "--global", "user.email", "global@example.com", cwd=workspace)
    git("config", "user.name", "Local Näme", cwd=workspace)

    found = owner(env, workspace)

    assert found["git_name"] == "Local Näme"
    assert found["git_email"] == "global@example.com"


def test_global_identity_outside_a_repo(
    tmp_path: Path, workspace: Path, git: Git, env: dict[str, str]
) -> None:
    git("config", "--global", "user.email", "global@example.com", cwd=workspace)
    plain = tmp_path / "plain"
    plain.mkdir()
    found = owner(env, plain)
    assert (found["git_name"], found["git_email"]) == (None, "global@example.com")


def test_github_actions() -> None:
    env = {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_RUN_ID": "123",
        "GITHUB_JOB": "train",
        "GITHUB_REPOSITORY": "org/repo",
        "GITHUB_ACTOR": "alice",
        "GITHUB_SERVER_URL": "https://github.example",
    }
    assert ci_identity(env) == {
        "system": "github-actions",
        "run_id": "123",
        "job": "train",
        "repository": "org/repo",
        "actor": "alice",
        "url": "https://github.example/org/repo/actions/runs/123",
    }


def test_gitlab() -> None:
    env = {
        "CI": "true",
        "GITLAB_CI": "true",
        "CI_PIPELINE_ID": "77",
        "CI_JOB_ID": "78",
        "CI_PROJECT_PATH": "group/project",
        "GITLAB_USER_LOGIN": "bob",
    }
    assert ci_identity(env) == {
        "system": "gitlab-ci",
        "run_id": "77",
        "job": "78",
        "repository": "group/project",
        "actor": "bob",
        "url": None,
    }


def test_jenkins_repository_url_loses_its_token() -> None:
    env = {
        "JENKINS_URL": "https://ci.example/",
        "BUILD_TAG": "jenkins-train-5",
        "GIT_URL": "https://x-token:abc123@example.com/org/repo.git",
    }
    found = ci_identity(env)
    assert found is not None
    assert found["system"] == "jenkins"
    assert found["run_id"] == "jenkins-train-5"
    assert found["repository"] == "https://example.com/org/repo.git"


@pytest.mark.parametrize("value", ["true", "1", "True"])
def test_generic_ci(value: str) -> None:
    assert ci_identity({"CI": value}) == {
        "system": "unknown",
        "run_id": None,
        "job": None,
        "repository": None,
        "actor": None,
        "url": None,
    }


@pytest.mark.parametrize("env", [{}, {"CI": "false"}, {"CI": ""}, {"GITHUB_ACTIONS": "0"}])
def test_not_ci(env: dict[str, str]) -> None:
    assert ci_identity(env) is None


def test_owner_reports_ci(workspace: Path) -> None:
    found = owner({"PATH": os.environ["PATH"], "CI": "1"}, workspace)
    assert found["ci"] is not None
    assert found["ci"]["system"] == "unknown"
