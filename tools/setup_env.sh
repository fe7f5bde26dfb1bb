#!/usr/bin/env bash
# Create .venv in the repo root (first use only) and install rla_mm's pinned
# stack into it: torch/torchvision (kept if the interpreter already has a
# working pair), mmcv 2.1.0 built from source with its ops, mmengine, mmdet,
# mmpretrain, pycocotools, and rla_mm itself in editable mode.
#
# Idempotent: a stamp in the venv records a hash of the pins, setup.py and this
# script, so a second call returns in well under a second. The mmcv wheel is
# cached per (python, torch) under $RLA_MM_CACHE (default ~/.cache/rla_mm), so
# rebuilding the venv takes seconds instead of the ~10 minute compile.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
PINS=$ROOT/requirements/pinned.txt
CACHE=${RLA_MM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rla_mm}
STAMP=$VENV/.rla_mm_installed

log() { printf '[setup_env] %s\n' "$*" >&2; }
pin() {  # pin NAME -> the "NAME==VERSION" line of requirements/pinned.txt
    local line
    line=$(grep -E "^$1==" "$PINS" | head -n1)
    [ -n "$line" ] || { log "no pin for '$1' in $PINS"; exit 1; }
    printf '%s' "$line"
}

want=$(cat "$PINS" "$ROOT/setup.py" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    if "$PYTHON" -c 'import torch, torchvision' >/dev/null 2>&1; then
        log "keeping the torch/torchvision of $PYTHON (venv sees its site-packages)"
        "$PYTHON" -m venv --system-site-packages "$VENV"
    else
        "$PYTHON" -m venv "$VENV"
    fi
fi
VPY=$VENV/bin/python
PIP=("$VPY" -m pip install --disable-pip-version-check --progress-bar off)

log "build tools: $(pin setuptools) $(pin ninja)"
"${PIP[@]}" -q "$(pin setuptools)" "$(pin ninja)" wheel

if ! "$VPY" -c 'import torch, torchvision' >/dev/null 2>&1; then
    log "installing $(pin torch) $(pin torchvision)"
    "${PIP[@]}" "$(pin torch)" "$(pin torchvision)"
fi

MMCV=$(pin mmcv)
MMCV_VERSION=${MMCV#mmcv==}
if ! "$VPY" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" >/dev/null 2>&1; then
    key=$("$VPY" -c 'import sys, torch; print(f"py{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__}")')
    wheel_dir=$CACHE/mmcv-$MMCV_VERSION-$key
    if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
        log "building $MMCV with ops from source (about 10 minutes on 2 cores); cached in $wheel_dir"
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
        "$VPY" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: "$MMCV" -d "$work"
        tar -xzf "$work"/mmcv-"$MMCV_VERSION".tar.gz -C "$work"
        src=$work/mmcv-$MMCV_VERSION
        # torch >= 2.10 headers need C++20; mmcv 2.1.0's setup.py forces c++17.
        grep -q -- '-std=c++17' "$src/setup.py" || { log "mmcv setup.py no longer has -std=c++17: check the patch"; exit 1; }
        sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
        (cd "$src" && MMCV_WITH_OPS=1 MAX_JOBS=$(nproc) "$VPY" -m pip wheel --disable-pip-version-check \
            --no-build-isolation --no-deps -w "$work/dist" .)
        mkdir -p "$wheel_dir"
        whl=$(basename "$work"/dist/mmcv-*.whl)
        # copy then rename, so a crash never leaves a truncated wheel in the cache
        cp "$work/dist/$whl" "$wheel_dir/.$whl.part" && mv "$wheel_dir/.$whl.part" "$wheel_dir/$whl"
    fi
    log "installing $(ls "$wheel_dir"/mmcv-*.whl)"
    "${PIP[@]}" "$wheel_dir"/mmcv-*.whl
fi

log "installing the OpenMMLab stack and test tools"
"${PIP[@]}" -q "$MMCV" "$(pin mmengine)" "$(pin mmdet)" "$(pin mmpretrain)" "$(pin pycocotools)" \
    "$(pin pytest)" "$(pin onnx)" "$(pin onnxruntime)"
log "installing rla_mm (editable)"
"${PIP[@]}" -q --no-build-isolation --no-deps -e "$ROOT"
"$VPY" -c 'import rla_mm, mmcv.ops, mmdet, mmpretrain; print("rla_mm stack ok:", rla_mm.__version__)'
printf '%s' "$want" > "$STAMP"
