"""Environment capture against the real interpreter, real files and real dist-info dirs."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from pathlib import Path

import pytest

from mlvc.capture.environment import (
    ENV_ALLOWLIST,
    container_info,
    distributions,
    environment_variables,
    gpus,
    module_versions,
    parse_cuda_header,
    parse_gpu_csv,
    platform_info,
    python_info,
)
from mlvc.codec import encode

SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
    "HF_TOKEN": "hf-t0ken-value",
    "GITHUB_TOKEN": "ghp-t0ken-value",
    "DATABASE_URL": "postgres://u:pw-value@h/db",
    "WANDB_API_KEY": "wandb-key-value",
    "MY_PASSWORD": "hunter2-value",
}


def test_only_allowlisted_values_are_recorded() -> None:
    env = {**SECRETS, "CUDA_VISIBLE_DEVICES": "0,1", "OMP_NUM_THREADS": "4", "HOME": "/home/u"}
    recorded = environment_variables(env)
    assert recorded["values"] == {"CUDA_VISIBLE_DEVICES": "0,1", "OMP_NUM_THREADS": "4"}
    assert recorded["names"] == sorted([*SECRETS, "HOME"])
    text = repr(recorded)
    for value in [*SECRETS.values(), "pw-value", "/home/u"]:
        assert value not in text
    encode(recorded)


def test_real_process_environment_leaks_no_unlisted_value() -> None:
    recorded = environment_variables(os.environ)
    assert set(recorded["values"]) <= ENV_ALLOWLIST
    assert set(recorded["names"]) | set(recorded["values"]) == set(os.environ)


def test_every_allowlisted_name_is_recorded_and_none_looks_secret() -> None:
    env = {name: "v" for name in ENV_ALLOWLIST}
    assert environment_variables(env) == {"values": env, "names": []}


def test_platform_info_describes_this_host() -> None:
    info = platform_info({})
    assert set(info) == {
        "os",
        "kernel",
        "kernel_version",
        "machine",
        "libc",
        "distro",
        "container",
    }
    assert info["os"] == platform.system()
    assert info["kernel"] == platform.release()
    assert info["machine"] == platform.machine()
    if sys.platform == "linux" and Path("/etc/os-release").exists():
        assert info["distro"]["id"]
    encode(info)


def test_container_info_reads_podman_image(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".containerenv").write_text(
        'engine="podman-4.9.3"\nname="trainer"\nimage="localhost/train:1.2"\nimageid="4f1c"\n'
    )
    assert container_info({}, root=str(tmp_path)) == {
        "hints": ["podman"],
        "image": "localhost/train:1.2",
    }


def test_container_info_finds_docker_and_kubernetes_marks(tmp_path: Path) -> None:
    (tmp_path / ".dockerenv").touch()
    (tmp_path / "proc" / "self").mkdir(parents=True)
    (tmp_path / "proc" / "self" / "cgroup").write_text(
        "0::/kubepods/besteffort/pod1234/cri-containerd-abcd\n"
    )
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert container_info(env, root=str(tmp_path)) == {
        "hints": ["containerd", "docker", "kubepods", "kubernetes"],
        "image": None,
    }


def test_container_variable_is_recorded_only_when_known(tmp_path: Path) -> None:
    assert container_info({"container": "podman"}, root=str(tmp_path)) == {
        "hints": ["podman"],
        "image": None,
    }
    assert container_info({"container": "s3cr3t-value"}, root=str(tmp_path)) is None


def test_container_info_is_none_on_a_bare_host(tmp_path: Path) -> None:
    assert container_info({}, root=str(tmp_path)) is None


def test_python_info_knows_a_venv() -> None:
    info = python_info(sys.executable, platform.python_version(), "cpython", sys.prefix)
    assert info["executable"] == sys.executable
    assert info["version"] == platform.python_version()
    assert info["env_kind"] == ("venv" if sys.prefix != sys.base_prefix else None)


def test_distributions_of_the_running_venv() -> None:
    found = distributions(sys.path)
    versions = dict((name.lower(), version) for name, version in found)
    for dist in ("blake3", "msgpack", "pyyaml"):
        assert versions[dist] == importlib.metadata.version(dist)
    names = [name.lower().replace("_", "-") for name, _ in found]
    assert names == sorted(names)
    assert len(names) == len(set(names))
    encode(found)


def _dist_info(
    site: Path, name: str, version: str, top_level: str | None = None, record: str = ""
) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nName: not-a-header\n"
    )
    (info / "RECORD").write_text(record)
    if top_level is not None:
        (info / "top_level.txt").write_text(top_level)


def test_first_distribution_on_the_path_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist_info(first, "Demo-Pkg", "1.0", "demo\n")
    _dist_info(second, "demo_pkg", "2.0", "demo\n")
    assert distributions([str(first), str(second)]) == [["Demo-Pkg", "1.0"]]
    assert distributions([str(second), str(first)]) == [["demo_pkg", "2.0"]]
    assert module_versions(["demo"], [str(second), str(first)]) == {"demo": "demo_pkg==2.0"}


def test_broken_metadata_is_skipped(tmp_path: Path) -> None:
    _dist_info(tmp_path, "good", "1.0", "good\n")
    broken = tmp_path / "broken-1.0.dist-info"
    broken.mkdir()
    (broken / "METADATA").write_bytes(b"Name: broken\nVersion: \xff\n")
    unversioned = tmp_path / "unversioned-1.0.dist-info"
    unversioned.mkdir()
    (unversioned / "METADATA").write_text("Metadata-Version: 2.1\nName: unversioned\n")
    assert distributions([str(tmp_path), "", "relative/dir"]) == [["good", "1.0"]]


def test_module_versions_of_the_running_venv() -> None:
    modules = ["blake3", "msgpack", "yaml", "yaml.constructor", "json", "os.path", "no_such_mod"]
    found = module_versions(modules, sys.path)
    assert found == {
        "blake3": f"blake3=={importlib.metadata.version('blake3')}",
        "msgpack": f"msgpack=={importlib.metadata.version('msgpack')}",
        "yaml": f"PyYAML=={importlib.metadata.version('pyyaml')}",
    }


def test_module_versions_infers_top_level_from_record(tmp_path: Path) -> None:
    record = "\n".join(
        [
            "demo_mod/__init__.py,sha256=x,1",
            "demo_mod/core.py,sha256=x,1",
            "single.py,sha256=x,1",
            "fastext.cpython-311-x86_64-linux-gnu.so,sha256=x,1",
            "__pycache__/single.cpython-311.pyc,,",
            "../../bin/tool,sha256=x,1",
            "demo-1.0.dist-info/METADATA,,",
            "demo-1.0.data/scripts/x,,",
            "__editable__.demo-1.0.pth,,",
        ]
    )
    _dist_info(tmp_path, "demo", "1.0", record=record)
    wanted = ["demo_mod", "single", "fastext", "bin", "tool", "__editable__", "__pycache__"]
    assert module_versions(wanted, [str(tmp_path)]) == {
        "demo_mod": "demo==1.0",
        "single": "demo==1.0",
        "fastext": "demo==1.0",
    }


def test_a_namespace_package_maps_to_every_distribution(tmp_path: Path) -> None:
    _dist_info(tmp_path, "ns-b", "2.0", "nspkg\n")
    _dist_info(tmp_path, "ns-a", "1.0", "nspkg\n")
    assert module_versions(["nspkg.a"], [str(tmp_path)]) == {"nspkg": "ns-a==1.0,ns-b==2.0"}


def test_gpus_is_a_list_even_without_nvidia_smi() -> None:
    found = gpus()
    assert isinstance(found, list)
    encode(found)


# Verbatim output of `nvidia-smi --query-gpu=name,memory.total,driver_version,uuid
# --format=csv,noheader,nounits` on a two-GPU host.
GPU_CSV = """\
NVIDIA A100-SXM4-80GB, 81920, 535.104.05, GPU-5e3a1b9c-0d4f-11ee-be56-0242ac120002
NVIDIA A100-SXM4-80GB, 81920, 535.104.05, GPU-6f4b2cad-0d4f-11ee-be56-0242ac120002
"""

SMI_HEADER = """\
Tue Mar  5 10:12:01 2024
+---------------------------------------------------------------------------------------+
| NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2     |
|-----------------------------------------+----------------------+----------------------+
"""


def test_parse_gpu_csv() -> None:
    parsed = parse_gpu_csv(GPU_CSV + "\n[N/A], , ,\n")
    assert parsed[0] == {
        "name": "NVIDIA A100-SXM4-80GB",
        "memory_bytes": 81920 << 20,
        "driver": "535.104.05",
        "uuid": "GPU-5e3a1b9c-0d4f-11ee-be56-0242ac120002",
    }
    assert len(parsed) == 3
    assert parsed[2]["memory_bytes"] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SMI_HEADER, {"driver": "535.104.05", "cuda": "12.2"}),
        ("NVIDIA-SMI has failed because it couldn't communicate with the driver", None),
        ("", None),
    ],
)
def test_parse_cuda_header(text: str, expected: dict[str, str] | None) -> None:
    assert parse_cuda_header(text) == expected
