#!/usr/bin/env bash
# Create .venv in the repo root (first use only) and install rla_mm's pinned
# stack into it: torch/torchvision (kept if the interpreter already has a
# working pair), mmcv 2.1.0 built from source with its ops, mmengine, mmdet,
# mmpretrain, pycocotools, and rla_mm itself in editable mode.
#
# mmcv's ops are built with CUDA kernels (FORCE_CUDA=1, CUDA_HOME) when a GPU
# is visible and torch has CUDA and nvcc is found, CPU-only otherwise; a GPU
# that CUDA ops cannot be built for stops the script with one line. The
# decision is tools/misc/mmcv_build_plan.py's (RLA_MM_MMCV_OPS=auto|cpu|cuda
# overrides it; `bash tools/setup_env.sh --plan` prints it and installs
# nothing).
#
# Idempotent: a stamp in the venv records a hash of the pins, setup.py, this
# script, the planner and the build knobs, so a second call returns in well
# under a second. The mmcv wheel is cached per (python, torch, cpu | cuda
# version + archs) under $RLA_MM_CACHE (default ~/.cache/rla_mm), so
# rebuilding the venv takes seconds instead of the ~10 minute compile.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
PINS=$ROOT/requirements/pinned.txt
CACHE=${RLA_MM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rla_mm}
STAMP=$VENV/.rla_mm_installed
PLANNER=$ROOT/tools/misc/mmcv_build_plan.py

log() { printf '[setup_env] %s\n' "$*" >&2; }
pin() {  # pin NAME -> the "NAME==VERSION" line of requirements/pinned.txt
    local line
    line=$(grep -E "^$1==" "$PINS" | head -n1)
    [ -n "$line" ] || { log "no pin for '$1' in $PINS"; exit 1; }
    printf '%s' "$line"
}

if [ "${1:-}" = "--plan" ]; then  # print the mmcv build plan, install nothing
    py=$VENV/bin/python
    [ -x "$py" ] || py=$PYTHON
    exec "$py" "$PLANNER"
elif [ $# -gt 0 ]; then
    log "unknown argument '$1' (allowed: --plan)"; exit 2
fi

want=$( (cat "$PINS" "$ROOT/setup.py" "${BASH_SOURCE[0]}" "$PLANNER"
         printf 'ops=%s archs=%s\n' "${RLA_MM_MMCV_OPS:-auto}" "${TORCH_CUDA_ARCH_LIST:-}") |
       sha256sum | cut -c1-16)
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

if ! "$VPY" -c 'import torch, torchvision' >/dev/null 2>&1; then
    log "installing $(pin torch) $(pin torchvision)"
    "${PIP[@]}" "$(pin torch)" "$(pin torchvision)"
fi

# cpu | cuda, the wheel cache key, CUDA_HOME / TORCH_CUDA_ARCH_LIST for cuda;
# exits with its one-line reason when a GPU is visible but CUDA ops can't
# build (before anything else is installed)
plan=$("$VPY" "$PLANNER") || exit $?
eval "$plan"
log "mmcv ops: $MMCV_OPS ($MMCV_PLAN_REASON)"

log "build tools: $(pin setuptools) $(pin ninja)"
"${PIP[@]}" -q "$(pin setuptools)" "$(pin ninja)" wheel
MMCV=$(pin mmcv)
MMCV_VERSION=${MMCV#mmcv==}
# a CPU plan accepts any mmcv 2.1.0 with ops (CUDA builds have the CPU kernels
# too); a CUDA plan needs the CUDA kernels compiled in
have_ops="import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION' or ('$MMCV_OPS' == 'cuda' and mmcv.ops.get_compiling_cuda_version() == 'not available'))"
if ! "$VPY" -c "$have_ops" >/dev/null 2>&1; then
    wheel_dir=$CACHE/mmcv-$MMCV_VERSION-$MMCV_CACHE_KEY
    if [ "$MMCV_OPS" = cpu ]; then  # earlier releases cached CPU wheels here
        "$VPY" "$PLANNER" --adopt-legacy "$CACHE/mmcv-$MMCV_VERSION-$MMCV_LEGACY_KEY" "$wheel_dir"
    fi
    if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
        build_env=(MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)")
        if [ "$MMCV_OPS" = cuda ]; then
            build_env+=(FORCE_CUDA=1 CUDA_HOME="$CUDA_HOME" TORCH_CUDA_ARCH_LIST="$TORCH_CUDA_ARCH_LIST")
            log "building $MMCV with CUDA ops for archs $TORCH_CUDA_ARCH_LIST (CUDA_HOME=$CUDA_HOME); cached in $wheel_dir"
        else
            # mmcv's setup.py compiles CUDA kernels whenever torch sees a GPU
            build_env+=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)
            log "building $MMCV with CPU ops from source (about 10 minutes on 2 cores); cached in $wheel_dir"
        fi
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
        "$VPY" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: "$MMCV" -d "$work"
        tar -xzf "$work"/mmcv-"$MMCV_VERSION".tar.gz -C "$work"
        src=$work/mmcv-$MMCV_VERSION
        # torch >= 2.10 headers need C++20; mmcv 2.1.0's setup.py forces c++17.
        grep -q -- '-std=c++17' "$src/setup.py" || { log "mmcv setup.py no longer has -std=c++17: check the patch"; exit 1; }
        sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
        (cd "$src" && env "${build_env[@]}" "$VPY" -m pip wheel --disable-pip-version-check \
            --no-build-isolation --no-deps -w "$work/dist" .)
        whl=$(basename "$work"/dist/mmcv-*.whl)
        built=$("$VPY" "$PLANNER" --wheel-flavour "$work/dist/$whl")
        if [ "$built" != "$MMCV_OPS" ]; then
            log "error: the mmcv wheel was built with $built ops, the plan was $MMCV_OPS; see the compiler output above"
            exit 1
        fi
        mkdir -p "$wheel_dir"
        # copy then rename, so a crash never leaves a truncated wheel in the cache
        cp "$work/dist/$whl" "$wheel_dir/.$whl.part" && mv "$wheel_dir/.$whl.part" "$wheel_dir/$whl"
    fi
    log "installing $(ls "$wheel_dir"/mmcv-*.whl)"
    # same version, other ops: pip would call a plain install "already satisfied"
    "$VPY" -m pip uninstall --disable-pip-version-check -y -q mmcv >/dev/null 2>&1 || true
    "${PIP[@]}" "$wheel_dir"/mmcv-*.whl
    "$VPY" -c "$have_ops" >/dev/null 2>&1 || { log "error: the installed mmcv lacks the $MMCV_OPS ops of the plan"; exit 1; }
fi

log "installing the OpenMMLab stack and test tools"
"${PIP[@]}" -q "$MMCV" "$(pin mmengine)" "$(pin mmdet)" "$(pin mmpretrain)" "$(pin pycocotools)" \
    "$(pin pytest)" "$(pin onnx)" "$(pin onnxruntime)"
log "installing rla_mm (editable)"
"${PIP[@]}" -q --no-build-isolation --no-deps -e "$ROOT"
"$VPY" -c 'import rla_mm, mmcv.ops, mmdet, mmpretrain; print("rla_mm stack ok:", rla_mm.__version__)'
printf '%s' "$want" > "$STAMP"
