"""The SeaweedFS fixture serves real S3: put, get, ranged get, list, and it refuses
requests without the session's keys."""

from __future__ import annotations

import pytest

from tests.remote.seaweed import S3Server


def test_put_get_list_through_s3fs(s3_server: S3Server, s3_url: str) -> None:
    fs = s3_server.filesystem()
    fs.pipe_file(f"{s3_url}/a/one", b"first")
    fs.pipe_file(f"{s3_url}/a/two", b"second object")
    assert fs.cat_file(f"{s3_url}/a/one") == b"first"
    assert fs.cat_file(f"{s3_url}/a/two", start=7, end=13) == b"object"
    listed = sorted(path.rsplit("/", 1)[1] for path in fs.ls(f"{s3_url}/a", detail=False))
    assert listed == ["one", "two"]


def test_wrong_keys_are_refused(s3_server: S3Server, s3_url: str) -> None:
    import s3fs

    fs = s3_server.filesystem()
    fs.pipe_file(f"{s3_url}/secret", b"x")
    stranger = s3fs.S3FileSystem(
        skip_instance_cache=True,
        key="nobody",
        secret="nothing",
        endpoint_url=s3_server.endpoint,
        client_kwargs={"region_name": "us-east-1"},
    )
    with pytest.raises(PermissionError):
        stranger.cat_file(f"{s3_url}/secret")
