#!/usr/bin/env bash
# `make demo`: make the demo data if missing, train the RLA Faster R-CNN demo
# from scratch on the CPU, evaluate it with CocoMetric (pycocotools), and save
# a picture of its predictions on validation images.
#   bash tools/run_demo.sh [det|cls]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-$ROOT/.venv/bin/python}
MODE=${1:-det}
# mmengine imports pkg_resources, which warns on every start
export PYTHONWARNINGS=${PYTHONWARNINGS:-"ignore:pkg_resources is deprecated"}
# progress must stream even when stdout is a pipe or a file (CI, tee)
export PYTHONUNBUFFERED=1

case "$MODE" in
det)
    CONFIG=configs/demo/faster_rcnn_rla_demo.py
    WORK=work_dirs/demo/faster_rcnn_rla_demo
    if [ ! -f data/demo/annotations/instances_val.json ]; then
        "$PY" tools/misc/make_demo_data.py --out data/demo
    fi
    "$PY" tools/train.py "$CONFIG" --work-dir "$WORK"
    CKPT=$(cat "$WORK/last_checkpoint")
    "$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK/test" \
        --show-dir predictions
    SHOW=$(ls -d "$WORK"/test/*/predictions | sort | tail -n1)
    "$PY" tools/misc/prediction_grid.py "$SHOW" --out-dir "$WORK"
    echo "demo done: checkpoint $CKPT"
    echo "picture of predictions on validation images (left: ground truth," \
         "right: predictions): $ROOT/$WORK/predictions.png"
    ;;
cls)
    CONFIG=configs/demo/rla_resnet_cls_demo.py
    WORK=work_dirs/demo/rla_resnet_cls_demo
    if [ ! -d data/demo_cls/val ]; then
        "$PY" tools/misc/make_cls_demo_data.py --out data/demo_cls
    fi
    "$PY" tools/train.py "$CONFIG" --work-dir "$WORK"
    ;;
*)
    echo "usage: $0 [det|cls]" >&2; exit 2 ;;
esac
