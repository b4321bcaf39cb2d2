#!/usr/bin/env python3
"""Check that the compiled modules the project imports find every shared library they link.

Runs `ldd` over the Python extension modules of open3d, cv2 (OpenCV), mediapipe and torch,
and over torch's CPU libraries, in the environment of the Python that runs it, without
importing them: an import stops at the first missing library with an ImportError that
names no package. ldd follows each module's own search path (RUNPATH), so the libraries a
wheel bundles are found where the module finds them. Each missing library is named with
the Debian package that provides it, where one is named after it.

    python scripts/check_libraries.py                    # the packages that are installed
    python scripts/check_libraries.py --require open3d cv2 mediapipe torch
    python scripts/check_libraries.py FILE.so ...        # these files instead

Exits 1 when a library is missing or a required package is not installed.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGES = ("open3d", "cv2", "mediapipe", "torch")
TORCH_CPU_LIBRARIES = ("libtorch_cpu.so", "libtorch.so", "libc10.so", "libtorch_python.so", "libshm.so")
"""torch's own libraries apart from the CUDA ones: a CPU machine has no driver for those to load."""
DEBIAN_EXCEPTIONS = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgio-2.0.so.0": "libglib2.0-0",
}
"""Libraries whose Debian package is not named after them by the usual rule."""
NOT_FOUND = re.compile(r"^\s*(\S+) => not found", re.MULTILINE)


def package_folder(name: str) -> Path | None:
    """Where an installed package lives, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def compiled_files(name: str, folder: Path) -> list[Path]:
    """A package's extension modules, and for torch its CPU libraries."""
    files = sorted(
        path for suffix in importlib.machinery.EXTENSION_SUFFIXES if suffix != ".so"
        for path in folder.rglob(f"*{suffix}")
    )
    if name == "torch":
        files += [folder / "lib" / lib for lib in TORCH_CPU_LIBRARIES if (folder / "lib" / lib).exists()]
    return files


def missing_libraries(file: Path) -> list[str]:
    """The shared libraries `file` links, directly or through another, that the loader does not find."""
    result = subprocess.run(["ldd", str(file)], capture_output=True, text=True)
    return NOT_FOUND.findall(result.stdout)


def package_named_after(library: str) -> str:
    """The Debian package a library's name points to by Debian's naming rule: libusb-1.0.so.0 -> libusb-1.0-0,
    libgomp.so.1 -> libgomp1 (a hyphen when the name ends in a digit)."""
    if library in DEBIAN_EXCEPTIONS:
        return DEBIAN_EXCEPTIONS[library]
    name, _, version = library.partition(".so")
    name, version = name.lower().replace("_", "-"), version.lstrip(".")
    if not version:
        return name
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def debian_hint(library: str) -> str:
    """Which Debian package to install for `library`, as far as the package lists tell."""
    package = package_named_after(library)
    if shutil.which("apt-cache") is None:
        return f"probably the Debian package {package}"
    known = subprocess.run(["apt-cache", "show", "--no-all-versions", package], capture_output=True)
    if known.returncode == 0 and known.stdout:
        return f"the Debian package {package} provides it: apt-get install {package} (add it to the Makefile's SYSTEM_PACKAGES)"
    return (f"no Debian package is called {package} in the package lists (`apt-get update` first if they are empty);"
            f" `apt-file search {library}` finds the one that has it")


def check(files: list[Path], root: Path | None = None) -> int:
    """Print every missing library of `files`; the number of them."""
    count = 0
    for file in files:
        shown = file.relative_to(root) if root is not None and file.is_relative_to(root) else file
        for library in missing_libraries(file):
            count += 1
            print(f"check_libraries: {shown} links {library}, which is not found: {debian_hint(library)}")
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="check these files instead of the packages")
    parser.add_argument("--require", nargs="+", default=[], choices=PACKAGES, metavar="PACKAGE",
                        help=f"fail when one of these is not installed ({', '.join(PACKAGES)})")
    args = parser.parse_args(argv)
    if shutil.which("ldd") is None:
        print("check_libraries: ldd is not on PATH (Debian's libc-bin has it)")
        return 1
    if args.files:
        missing = check(args.files)
        print(f"check_libraries: {len(args.files)} file(s), {missing} missing librar{'y' if missing == 1 else 'ies'}")
        return 1 if missing else 0

    checked, absent, files = [], [], 0
    missing = 0
    for name in PACKAGES:
        folder = package_folder(name)
        if folder is None:
            absent.append(name)
            continue
        found = compiled_files(name, folder)
        files += len(found)
        checked.append(name)
        missing += check(found, folder.parent)
    unmet = [name for name in args.require if name in absent]
    print(f"check_libraries: {files} compiled modules of {', '.join(checked) or 'nothing'} in {sys.prefix}: "
          + (f"{missing} missing librar{'y' if missing == 1 else 'ies'}" if missing else "every library found")
          + (f"; not installed: {', '.join(absent)}" if absent else ""))
    if unmet:
        print(f"check_libraries: required but not installed: {', '.join(unmet)}")
    return 1 if missing or unmet else 0


if __name__ == "__main__":
    sys.exit(main())
