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
"""

from __future__ import annotations

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


def detectron2_ready() -> bool:
    """True when the pinned torch and our patched detectron2 build are installed."""
    if any(installed_version(name) != version for name, version in TORCH.items()):
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


def main() -> int:
    if detectron2_ready():
        print(f"detectron2 ({SDIST[0]}=={SDIST[1]}) with torch {TORCH['torch']} is installed")
        return 0
    start = time.monotonic()
    if any(installed_version(name) != version for name, version in TORCH.items()):
        pip("install", *(f"{name}=={version}" for name, version in TORCH.items()))
    with tempfile.TemporaryDirectory(prefix="detectron2-") as tmp:
        source = download_source(Path(tmp))
        patch_source(source)
        pip("install", "--no-build-isolation", str(source))
    if importlib.util.find_spec("cv2") is None:
        pip("install", "opencv-python-headless>=4.10,<5")
    if not detectron2_ready():
        raise SystemExit("detectron2 did not install as expected")
    print(f"Installed detectron2 ({SDIST[0]}=={SDIST[1]}, pure Python) in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
