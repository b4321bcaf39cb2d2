"""Install detectron2 into this Python environment, offline-safe and idempotent.

detectron2 has no package of its own on PyPI. The sdist `pb1-detectron2==0.6`
carries detectron2 v0.6's Python code but not the sources of its C++
extension, so it does not build as published. This script downloads it from
PyPI, builds it as a pure-Python package and fixes it for current libraries:

- no C++ extension; `detectron2._C` becomes a stand-in that raises
  NotImplementedError (only rotated-box ops, deformable convolution and the
  fast C++ COCOeval need it);
- the 92 model-zoo configs are packaged (moved to the top-level `configs/`
  that setup.py expects);
- no top-level `tools` package is installed;
- Pillow >= 10 (`Image.LINEAR`), NumPy 2 (`np.bool`, `np.int`, ...),
  setuptools >= 81 (`pkg_resources`), torch 2 (no caffe2 for `export.api`);
- dependencies only needed for LazyConfig saving, TensorBoard logging and
  caffe2 export (black, tensorboard, future, pydot) are left out.

torch and torchvision come first, pinned, through pip. A second run checks the
installed versions and returns in well under a second.

    python scripts/install_detectron2.py
    python scripts/install_detectron2.py --keep-torch       # with the torch already installed (say, a CUDA build)
    python scripts/install_detectron2.py --wheels DIR --python-version 3.12
        # no install: the built detectron2 wheel and its dependencies' wheels, for a machine without internet:
        # pip install --no-index --find-links DIR pb1-detectron2
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TORCH = {"torch": "2.14.1", "torchvision": "0.29.1"}
SDIST = ("pb1-detectron2", "0.6")
DROPPED_REQUIREMENTS = ('"black==21.4b2",', '"future",', '"pydot",', '"tensorboard",')

STAND_IN = '''"""Stand-in for detectron2's C++ extension, which this build leaves out.

Only rotated-box ops, deformable convolution and the C++ COCOeval use it.
"""


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotImplementedError(
        f"detectron2._C.{name} needs detectron2's C++ extension, which this pure-Python build leaves out"
    )
'''

NUMPY_ALIASES = {r"np\.bool\b": "bool", r"np\.int\b": "np.int64", r"np\.float\b": "np.float64", r"np\.str\b": "str"}


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def torch_ready(keep_torch: bool) -> bool:
    """True when the pinned torch and torchvision are installed, or, with `keep_torch`, any version of both."""
    if keep_torch:
        return all(installed_version(name) is not None for name in TORCH)
    return all(installed_version(name) == version for name, version in TORCH.items())


def detectron2_ready(keep_torch: bool) -> bool:
    """True when torch (see `torch_ready`) and our patched detectron2 build are installed."""
    if not torch_ready(keep_torch):
        return False
    if installed_version(SDIST[0]) != SDIST[1]:
        return False
    spec = importlib.util.find_spec("detectron2")
    if spec is None or spec.origin is None:
        return False
    package = Path(spec.origin).parent
    return (package / "_C.py").is_file() and (package / "model_zoo" / "configs" / "Base-RCNN-FPN.yaml").is_file()


def download_source(workdir: Path) -> Path:
    """The unpacked sdist from PyPI.

    pip 26 refuses to finish downloading this sdist because its `all` extra
    names a direct URL, after it has unpacked it; `--no-clean` keeps that
    unpacked tree, which is all we need.
    """
    env = {**os.environ, "TMPDIR": str(workdir)}
    name, version = SDIST
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
         "--no-clean", "-d", str(workdir / "dist"), f"{name}=={version}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for setup_py in workdir.glob("pip-*/*/setup.py"):
        if (setup_py.parent / "detectron2" / "__init__.py").is_file():
            return setup_py.parent
    archive = next((workdir / "dist").glob("*.tar.gz"), None)
    if archive is not None:
        shutil.unpack_archive(archive, workdir / "src")
        return next((workdir / "src").iterdir())
    raise SystemExit(f"could not download {name}=={version} from PyPI (run `pip download {name}=={version}` to see why)")


def edit(path: Path, *replacements: tuple[str, str], regex: bool = False) -> None:
    text = original = path.read_text()
    for old, new in replacements:
        text = re.sub(old, new, text) if regex else text.replace(old, new)
    if text == original:
        raise SystemExit(f"patching {path} changed nothing: is this the expected {SDIST[0]}=={SDIST[1]}?")
    path.write_text(text)


def patch_source(root: Path) -> None:
    package = root / "detectron2"
    setup_py = root / "setup.py"
    edit(setup_py, ("ext_modules=get_extensions(),", "ext_modules=[],"),
         ('cmdclass={"build_ext": torch.utils.cpp_extension.BuildExtension},', ""))
    edit(setup_py, *[(requirement, "") for requirement in DROPPED_REQUIREMENTS])
    (package / "_C.py").write_text(STAND_IN)
    shutil.move(package / "model_zoo" / "configs", root / "configs")
    (root / "tools" / "__init__.py").unlink()
    for leftover in root.glob("*.egg-info"):
        shutil.rmtree(leftover)

    edit(package / "data" / "transforms" / "transform.py", ("Image.LINEAR", "Image.BILINEAR"))
    for source in package.rglob("*.py"):
        text = source.read_text()
        if any(re.search(pattern, text) for pattern in NUMPY_ALIASES):
            edit(source, *NUMPY_ALIASES.items(), regex=True)
    zoo_lookup = (
        'cfg_file = pkg_resources.resource_filename(\n        "detectron2.model_zoo", os.path.join("configs", config_path)\n    )',
        'cfg_file = str(importlib.resources.files("detectron2.model_zoo").joinpath("configs", config_path))',
    )
    edit(package / "model_zoo" / "model_zoo.py", ("import pkg_resources\n", "import importlib.resources\n"), zoo_lookup)
    guarded_api = "try:\n    from .api import *  # needs caffe2, which torch 2 no longer ships\nexcept ImportError:\n    pass\n"
    edit(package / "export" / "__init__.py", ("from .api import *\n", guarded_api))


def patched_source(workdir: Path) -> Path:
    """The sdist from PyPI, unpacked into `workdir` and patched to build as a pure-Python package."""
    source = download_source(workdir)
    patch_source(source)
    return source


def build_wheels(target: Path, python_version: str | None) -> None:
    """Write the detectron2 wheel and the wheels of everything it needs into `target`; install nothing.

    Dependencies published only as sources (fvcore) are built into wheels here. With
    `python_version`, compiled dependencies are those for that Python on x86-64 Linux.
    """
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="detectron2-") as tmp:
        pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(target), str(patched_source(Path(tmp))))
    wheel = next(target.glob(f"{SDIST[0].replace('-', '_')}-*.whl"))
    pip("wheel", "-w", str(target), str(wheel))
    if python_version:
        for compiled in set(target.glob("*.whl")) - set(target.glob("*-none-any.whl")):
            compiled.unlink()
        pip("download", "--only-binary", ":all:", "--python-version", python_version, "--platform", "manylinux2014_x86_64",
            "--platform", "manylinux_2_28_x86_64", "--find-links", str(target), "-d", str(target), str(wheel))
    print(f"Wheels in {target}; install on the target with: "
          f"pip install --no-index --find-links {target} {SDIST[0]}  (torch and torchvision installed first)")


def install(keep_torch: bool) -> None:
    if not torch_ready(keep_torch):
        pip("install", *(f"{name}=={version}" for name, version in TORCH.items()))
    with tempfile.TemporaryDirectory(prefix="detectron2-") as tmp:
        pip("install", "--no-build-isolation", str(patched_source(Path(tmp))))
    if importlib.util.find_spec("cv2") is None:
        pip("install", "opencv-python-headless>=4.10,<5")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep-torch", action="store_true",
                        help=f"use the torch and torchvision already installed instead of torch=={TORCH['torch']}")
    parser.add_argument("--wheels", type=Path, metavar="DIR",
                        help="install nothing: write detectron2's wheel and its dependencies' wheels into DIR")
    parser.add_argument("--python-version", metavar="X.Y", help="with --wheels: the target machine's Python")
    args = parser.parse_args()
    if args.python_version and not args.wheels:
        parser.error("--python-version goes with --wheels")
    if args.wheels:
        build_wheels(args.wheels, args.python_version)
        return 0
    if detectron2_ready(args.keep_torch):
        print(f"detectron2 ({SDIST[0]}=={SDIST[1]}) with torch {installed_version('torch')} is installed")
        return 0
    start = time.monotonic()
    install(args.keep_torch)
    if not detectron2_ready(args.keep_torch):
        raise SystemExit("detectron2 did not install as expected")
    print(f"Installed detectron2 ({SDIST[0]}=={SDIST[1]}, pure Python) in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
