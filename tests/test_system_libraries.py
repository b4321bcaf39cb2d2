"""Every shared library the compiled modules link is found (scripts/check_libraries.py).

A wheel can link a system library that a new machine lacks (open3d-cpu links libusb-1.0):
then `make serve` stops at its first import. The check runs ldd over the extension modules
of open3d, cv2, mediapipe and torch's CPU libraries in this environment, where `make test`
installed all four.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from harness.paths import ROOT

SCRIPT = ROOT / "scripts" / "check_libraries.py"


def load_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_libraries", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_every_library_the_compiled_modules_link_is_found() -> None:
    result = run_check("--require", "open3d", "cv2", "mediapipe", "torch")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "of open3d, cv2, mediapipe, torch" in result.stdout and "every library found" in result.stdout


def test_the_check_covers_the_modules_that_link_system_libraries() -> None:
    check = load_check()
    files = {name: check.compiled_files(name, check.package_folder(name)) for name in check.PACKAGES}
    assert any(f.name.startswith("pybind.") for f in files["open3d"])
    assert any(f.name.startswith("cv2.") for f in files["cv2"])
    assert any(f.name.startswith("_framework_bindings.") for f in files["mediapipe"])
    assert {"libtorch_cpu.so", "libc10.so"} <= {f.name for f in files["torch"]}
    assert not [f for f in files["torch"] if "cuda" in f.name]


def test_a_missing_library_is_named_with_its_debian_package(tmp_path: Path) -> None:
    """A copy of one of open3d's libraries whose link to libgcc_s is renamed to libgsm (not installed here): the
    loader cannot find it, and the check names it and the package named after it."""
    check = load_check()
    original = check.package_folder("open3d") / "libtbb.so.12"
    needed, renamed = b"libgcc_s.so.1\x00", b"libgsm.so.1\x00\x00\x00"
    data = original.read_bytes()
    assert data.count(needed) == 1
    broken = tmp_path / "libtbb.so.12"
    broken.write_bytes(data.replace(needed, renamed))
    shutil.copymode(original, broken)

    assert run_check(str(original)).returncode == 0
    result = run_check(str(broken))
    assert result.returncode == 1
    assert f"{broken} links libgsm.so.1, which is not found" in result.stdout
    assert "libgsm1" in result.stdout


def test_debian_package_names_follow_the_library_names() -> None:
    named = load_check().package_named_after
    assert named("libusb-1.0.so.0") == "libusb-1.0-0"
    assert named("libgomp.so.1") == "libgomp1"
    assert named("libGL.so.1") == "libgl1"
    assert named("libglib-2.0.so.0") == "libglib2.0-0"
