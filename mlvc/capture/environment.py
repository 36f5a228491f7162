"""What a run ran on: environment variables, platform, Python, distributions, GPUs."""

from __future__ import annotations

import functools
import importlib.machinery
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlvc.secrets import SECRET_NAME_HINT

if TYPE_CHECKING:
    from importlib import metadata

# Values are recorded only for these exact names: each one changes what a run computes
# (device selection, thread counts, determinism switches, locale) or places it in a
# job (scheduler and distributed ranks). Deliberately absent: PATH, HOME, USER and
# PYTHONPATH (home paths and user names; `mlvc run` also rewrites PYTHONPATH itself),
# MASTER_ADDR (network topology), and every *_FLAGS variable (free-form, may embed paths).
ENV_ALLOWLIST: frozenset[str] = frozenset(
    {
        # devices
        "CUDA_VISIBLE_DEVICES",
        "CUDA_DEVICE_ORDER",
        "CUDA_LAUNCH_BLOCKING",
        "NVIDIA_VISIBLE_DEVICES",
        "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
        "PYTORCH_CUDA_ALLOC_CONF",
        # threads
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "NUMEXPR_MAX_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMBA_NUM_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
        # numerics and determinism
        "PYTHONHASHSEED",
        "CUBLAS_WORKSPACE_CONFIG",
        "MKL_CBWR",
        "NVIDIA_TF32_OVERRIDE",
        "TF_DETERMINISTIC_OPS",
        "TF_CUDNN_DETERMINISTIC",
        "TF_ENABLE_ONEDNN_OPTS",
        "JAX_ENABLE_X64",
        "JAX_PLATFORMS",
        "JAX_DEFAULT_MATMUL_PRECISION",
        # locale and text
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "LC_NUMERIC",
        "TZ",
        "PYTHONUTF8",
        "PYTHONIOENCODING",
        # offline switches: they decide whether a model or dataset came from a cache
        "HF_HUB_OFFLINE",
        "HF_DATASETS_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        # schedulers and distributed training
        "SLURM_JOB_ID",
        "SLURM_ARRAY_JOB_ID",
        "SLURM_ARRAY_TASK_ID",
        "SLURM_PROCID",
        "SLURM_NTASKS",
        "SLURM_CPUS_PER_TASK",
        "WORLD_SIZE",
        "RANK",
        "LOCAL_RANK",
        "LOCAL_WORLD_SIZE",
        "NODE_RANK",
        "MASTER_PORT",
    }
)

_CGROUP_HINTS = ("docker", "kubepods", "containerd", "libpod", "lxc")
# What podman, systemd-nspawn, LXC and Flatpak put in the `container` variable.
_CONTAINER_ENV_VALUES = frozenset({"podman", "docker", "oci", "systemd-nspawn", "lxc", "flatpak"})
_NVIDIA_SMI_TIMEOUT = 5.0
_PROC_READ_LIMIT = 1 << 20
# Longest first, so ".cpython-311-x86_64-linux-gnu.so" is stripped whole, not just ".so".
# The first path component of each RECORD line, and "/" when the line goes deeper.
_RECORD_FIRST = re.compile(r'^"?([^/,\n]+)(/?)', re.MULTILINE)
_MODULE_SUFFIXES = tuple(sorted(importlib.machinery.all_suffixes(), key=len, reverse=True))


def environment_variables(env: Mapping[str, str]) -> dict[str, Any]:
    """Values of allowlisted variables and only the names of every other one.

    A name that looks like a secret never has its value recorded, allowlisted or not.
    """
    values = {
        name: value
        for name, value in env.items()
        if name in ENV_ALLOWLIST and not SECRET_NAME_HINT.search(name)
    }
    return {"values": values, "names": sorted(name for name in env if name not in values)}


def platform_info(env: Mapping[str, str]) -> dict[str, Any]:
    """OS, kernel, machine, libc, distribution and container hints of this host."""
    uname = platform.uname()
    libc, libc_version = platform.libc_ver()
    return {
        "os": uname.system,
        "kernel": uname.release,
        "kernel_version": uname.version,
        "machine": uname.machine,
        "libc": f"{libc} {libc_version}" if libc else None,
        "distro": _distro(),
        "container": container_info(env),
    }


def _distro() -> dict[str, str] | None:
    if sys.platform == "darwin":
        version = platform.mac_ver()[0]
        return {"id": "macos", "version_id": version, "pretty_name": f"macOS {version}"}
    try:
        release = platform.freedesktop_os_release()
    except OSError:
        return None
    return {key.lower(): release.get(key, "") for key in ("ID", "VERSION_ID", "PRETTY_NAME")}


def container_info(env: Mapping[str, str], root: str = "/") -> dict[str, Any] | None:
    """Signs that this process runs in a container, and the image when it is knowable.

    Only podman writes the image name inside the container (`/run/.containerenv`);
    Docker and Kubernetes leave only marks: `/.dockerenv`, cgroup paths, service env.
    """
    hints: set[str] = set()
    base = Path(root)
    if (base / ".dockerenv").exists():
        hints.add("docker")
    containerenv = _read_cached(str(base / "run" / ".containerenv"))
    if containerenv is not None:
        hints.add("podman")
    cgroup = _read_cached(str(base / "proc" / "self" / "cgroup")) or ""
    hints.update(hint for hint in _CGROUP_HINTS if hint in cgroup)
    if "KUBERNETES_SERVICE_HOST" in env:
        hints.add("kubernetes")
    # Only known values: this variable is not on the allowlist, so its text is not recorded.
    if env.get("container") in _CONTAINER_ENV_VALUES:
        hints.add(env["container"])
    if not hints:
        return None
    fields = _containerenv_fields(containerenv or "")
    return {"hints": sorted(hints), "image": fields.get("image") or None}


def _containerenv_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    return fields


@functools.lru_cache(maxsize=64)
def _read_cached(path: str) -> str | None:
    """A small system file, read once per process: these never change under a run."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(_PROC_READ_LIMIT)
    except OSError:
        return None


def python_info(executable: str, version: str, implementation: str, prefix: str) -> dict[str, Any]:
    """The interpreter a run used; `env_kind` says whether its prefix is a venv or conda env."""
    kind = None
    if os.path.isfile(os.path.join(prefix, "pyvenv.cfg")):
        kind = "venv"
    elif os.path.isdir(os.path.join(prefix, "conda-meta")):
        kind = "conda"
    return {
        "executable": executable,
        "version": version,
        "implementation": implementation,
        "prefix": prefix,
        "env_kind": kind,
    }


@dataclass(frozen=True)
class _Dist:
    name: str
    version: str
    dist: metadata.Distribution


def distributions(sys_path: list[str]) -> list[list[str]]:
    """Every distribution importable from `sys_path`, as sorted `[name, version]` pairs."""
    return [[d.name, d.version] for d in sorted(_visible(sys_path), key=lambda d: _norm(d.name))]


def _visible(sys_path: list[str]) -> Iterator[_Dist]:
    """Distributions in path order, one per normalized name: the first shadows the rest."""
    # Imported here: importlib.metadata pulls in the email package, about 30 ms.
    from importlib import metadata

    # A relative entry ("" for `python -c`) means the cwd, which the library never reads.
    absolute = [entry for entry in sys_path if os.path.isabs(entry)]
    seen: set[str] = set()
    for dist in metadata.distributions(path=absolute):
        header = _header(dist)
        if header is None or _norm(header[0]) in seen:
            continue
        seen.add(_norm(header[0]))
        yield _Dist(header[0], header[1], dist)


def _header(dist: metadata.Distribution) -> tuple[str, str] | None:
    """Name and version from the metadata headers alone.

    `Distribution.metadata` parses the whole file as email, long description included,
    which costs about a millisecond per distribution: too slow for an environment of
    hundreds under the `mlvc run` overhead budget.
    """
    text = _read(dist, "METADATA") or _read(dist, "PKG-INFO")
    end = text.find("\n\n")
    fields: dict[str, str] = {}
    for line in (text if end < 0 else text[:end]).splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and key in ("Name", "Version"):
            fields.setdefault(key, value.strip())
    if not fields.get("Name") or not fields.get("Version"):
        return None
    return fields["Name"], fields["Version"]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def module_versions(modules: list[str], sys_path: list[str]) -> dict[str, str]:
    """Top-level module → `"Dist==version"` for the modules that come from a distribution.

    Standard library modules and modules no distribution provides are left out. A
    namespace package shared by several distributions maps to all of them, sorted and
    comma-separated.
    """
    return pick_modules(modules, module_map(sys_path))


def pick_modules(modules: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """`module_versions` from a precomputed `module_map`."""
    wanted = {m.partition(".")[0] for m in modules} - set(sys.stdlib_module_names)
    return {module: mapping[module] for module in sorted(wanted) if module in mapping}


def module_map(sys_path: list[str]) -> dict[str, str]:
    """Every top-level module a distribution on `sys_path` provides → `"Dist==version"`."""
    found: dict[str, set[str]] = {}
    # Every distribution is asked: a namespace package has several.
    for dist in _visible(sys_path):
        for module in _top_level(dist.dist):
            found.setdefault(module, set()).add(f"{dist.name}=={dist.version}")
    return {module: ",".join(sorted(found[module])) for module in sorted(found)}


def _top_level(dist: metadata.Distribution) -> set[str]:
    """Top-level import names: declared in top_level.txt, else inferred from RECORD."""
    declared = _read(dist, "top_level.txt")
    names = {line.replace("/", ".").partition(".")[0] for line in declared.split()}
    return names or _record_top_level(_read(dist, "RECORD"))


def _read(dist: metadata.Distribution, name: str) -> str:
    """A metadata file's text, or "" when it is missing or not UTF-8."""
    try:
        return dist.read_text(name) or ""
    except (OSError, UnicodeDecodeError):
        return ""


def _record_top_level(record: str) -> set[str]:
    # A regex over the whole RECORD rather than `Distribution.files`, which builds a path
    # object for each of the tens of thousands of lines a large package lists.
    names = set()
    for first, slash in set(_RECORD_FIRST.findall(record)):
        if slash:
            if first != ".." and not first.endswith((".dist-info", ".data", "__pycache__")):
                names.add(first)
            continue
        name = _module_name(first)
        if name and not name.startswith("__editable__"):
            names.add(name)
    return names


def _module_name(filename: str) -> str | None:
    """`x` for x.py, x.pyc, x.cpython-311-x86_64-linux-gnu.so; what inspect.getmodulename does."""
    for suffix in _MODULE_SUFFIXES:
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)]
    return None


def gpus() -> list[dict[str, Any]]:
    """NVIDIA GPUs as nvidia-smi reports them; [] when there is no nvidia-smi or it fails."""
    out = _nvidia_smi(
        "--query-gpu=name,memory.total,driver_version,uuid", "--format=csv,noheader,nounits"
    )
    return parse_gpu_csv(out or "")


def parse_gpu_csv(text: str) -> list[dict[str, Any]]:
    """Rows of `name, memory.total (MiB), driver_version, uuid` as nvidia-smi prints them."""
    found = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) != 4 or not cells[0]:
            continue
        name, memory, driver, uuid = cells
        memory_bytes = int(memory) << 20 if memory.isdigit() else None
        found.append({"name": name, "memory_bytes": memory_bytes, "driver": driver, "uuid": uuid})
    return found


def cuda_info() -> dict[str, str] | None:
    """Driver version and the highest CUDA version the driver supports, from nvidia-smi."""
    return parse_cuda_header(_nvidia_smi() or "")


def parse_cuda_header(text: str) -> dict[str, str] | None:
    if not text:  # no nvidia-smi: nothing to parse (and no regex to compile)
        return None
    driver = re.search(r"Driver Version:\s*([\w.]+)", text)
    cuda = re.search(r"CUDA Version:\s*([\w.]+)", text)
    if driver is None and cuda is None:
        return None
    return {"driver": driver[1] if driver else "", "cuda": cuda[1] if cuda else ""}


@functools.lru_cache(maxsize=4)
def _nvidia_smi(*args: str) -> str | None:
    """Output of one nvidia-smi call, cached: it takes tens of milliseconds per call."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, *args],
            capture_output=True,
            text=True,
            timeout=_NVIDIA_SMI_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None
