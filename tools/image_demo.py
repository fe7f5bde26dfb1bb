"""Draw a model's predictions on one image and save the picture.

    python tools/image_demo.py IMAGE CONFIG [--weights CKPT] [--out-dir DIR]

A detector config (mmdet scope) goes through mmdet's ``DetInferencer`` and the
picture shows its boxes (and masks) above ``--score-thr``; a classifier config
(mmpretrain scope) goes through mmpretrain's ``ImageClassificationInferencer``
and the picture lists the top-5 classes with their scores. Both inferencers
build rla_mm configs as they are: ``import rla_mm`` below registers the
models, exactly as the configs' ``custom_imports`` would.

CONFIG is a config file or a model name from ``model-index.yml`` (for example
``faster_rcnn_rla_r50_fpn_1x_coco``), which also supplies the model's weights
path when ``--weights`` is not given.

Without ``--weights`` (and no weights from the model index) the model keeps
its random initialisation: the tool says so on stderr and in the names of
both outputs (``*_random_weights.png`` / ``*_random_weights.json``), so a
random picture or prediction file is never mistaken for, nor replaces, a
trained model's. That mode exists to check that a config builds and runs end
to end; pass ``--weights`` for meaningful predictions.

Outputs (written to temp files, then renamed into place, in ``--out-dir``):
``<image stem>.png`` and ``<image stem>.json`` with the predictions, or
``<image stem>_random_weights.png`` / ``.json`` without weights.

A missing, empty, truncated or non-image IMAGE, a missing config or
checkpoint stop the tool with one line naming the file, before the model is
built.
"""
import argparse
import json
import os.path as osp
import sys

from rla_mm.analysis import inference
from rla_mm.analysis.inference import (InputError, build_inferencer,
                                       check_inputs, random_weights_suffix)
from rla_mm.analysis.outputs import add_out_dir
from rla_mm.engine.fileio import atomic_write_bytes

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODEL_INDEX = osp.join(REPO_ROOT, 'model-index.yml')
__all__ = ['InputError', 'resolve_config', 'main', 'run']


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw detections (detector) or the top-5 classes '
        '(classifier) of an rla_mm model on an image.')
    parser.add_argument('image', help='image file')
    parser.add_argument(
        'config', help='config file, or a model name from model-index.yml')
    parser.add_argument(
        '--weights',
        help='checkpoint file; without it the model keeps random weights '
        '(unless CONFIG is a model-index name with weights)')
    add_out_dir(parser, help_text='folder of the picture and predictions')
    parser.add_argument(
        '--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.3,
        help='detectors: draw boxes with a score >= this (default 0.3)')
    parser.add_argument(
        '--topk',
        type=int,
        default=5,
        help='classifiers: number of classes to list (default 5)')
    return parser.parse_args(argv)


def resolve_config(config, weights):
    """``(config path, weights, source)`` of a config file or a name from
    this repository's ``model-index.yml``; raises ``InputError``."""
    return inference.resolve_config(config, weights, MODEL_INDEX, REPO_ROOT)


def check_args(args):
    """``(config, weights, source)`` of checked inputs (see
    ``rla_mm.analysis.inference.check_inputs``); raises ``InputError``."""
    if args.topk < 1:
        raise InputError(f'--topk must be >= 1, got {args.topk}')
    return check_inputs(args.image, args.config, args.weights, MODEL_INDEX,
                        REPO_ROOT)


def predict_detection(inferencer, image, score_thr):
    """Return ``(picture RGB array, predictions dict)``."""
    out = inferencer(
        image,
        return_vis=True,
        no_save_vis=True,
        no_save_pred=True,
        pred_score_thr=score_thr)
    pred = out['predictions'][0]
    classes = inferencer.model.dataset_meta.get('classes')
    keep = [i for i, s in enumerate(pred['scores']) if s >= score_thr]
    detections = [
        dict(
            label=pred['labels'][i],
            class_name=(classes[pred['labels'][i]]
                        if classes is not None else None),
            score=pred['scores'][i],
            bbox=pred['bboxes'][i]) for i in keep
    ]
    return out['visualization'][0], dict(
        task='detection', score_thr=score_thr, detections=detections)


def predict_classification(inferencer, image, topk):
    """Return ``(picture RGB array, predictions dict)`` with the top-k."""
    import torch
    sample = inferencer(image, return_datasamples=True)[0]
    scores = sample.pred_score
    k = min(topk, scores.numel())
    top = torch.topk(scores, k)
    # visualize_cls draws every label in pred_label with its score
    sample.set_pred_label(top.indices)
    from mmcv import imread
    from mmpretrain.visualization import UniversalVisualizer
    visualizer = UniversalVisualizer()
    picture = visualizer.visualize_cls(
        imread(image)[..., ::-1],
        sample,
        classes=inferencer.classes,
        draw_gt=False,
        rescale_factor=max(1.0, 256 / max(imread(image).shape[:2])))
    classes = inferencer.classes
    ranked = [
        dict(
            label=int(i),
            class_name=classes[int(i)] if classes is not None else None,
            score=float(s)) for s, i in zip(top.values, top.indices)
    ]
    return picture, dict(task='classification', topk=ranked)


def output_paths(out_dir, image, weights):
    """``(picture path, predictions path)``: both named after the image,
    both tagged ``_random_weights`` when there are no weights."""
    stem = osp.splitext(osp.basename(image))[0] + \
        random_weights_suffix(weights)
    return osp.join(out_dir, f'{stem}.png'), osp.join(out_dir, f'{stem}.json')


def run(args, config, weights):
    """Predict, draw and save; returns (task, picture path, json path,
    predictions)."""
    task, inferencer = build_inferencer(config, weights, args.device)
    if task == 'det':
        picture, preds = predict_detection(inferencer, args.image,
                                           args.score_thr)
    else:
        picture, preds = predict_classification(inferencer, args.image,
                                                args.topk)
    preds.update(
        image=args.image,
        config=config,
        weights=weights,
        random_weights=weights is None)
    out_png, out_json = output_paths(args.out_dir, args.image, weights)
    atomic_write_bytes(_png_bytes(picture), out_png)
    atomic_write_bytes(json.dumps(preds, indent=2).encode(), out_json)
    return task, out_png, out_json, preds


def _png_bytes(rgb):
    """PNG file content of an RGB uint8 array."""
    import cv2
    ok, buf = cv2.imencode('.png', rgb[..., ::-1])
    if not ok:
        raise RuntimeError('OpenCV could not encode the picture as PNG')
    return buf.tobytes()


def main(argv=None):
    args = parse_args(argv)
    try:
        config, weights, source = check_args(args)
    except InputError as e:
        sys.exit(f'error: {e}')
    if source == 'model-index.yml':
        print(f'weights from model-index.yml: {weights}')
    if weights is None:
        print(
            'WARNING: no --weights: the model keeps its RANDOM '
            'initialisation, its predictions are meaningless (this only '
            'checks that the config builds and runs). Pass --weights CKPT.',
            file=sys.stderr)
    task, out_png, out_json, preds = run(args, config, weights)
    if task == 'det':
        print(f'{len(preds["detections"])} detections with score >= '
              f'{args.score_thr}')
    else:
        print('top-{}: {}'.format(
            len(preds['topk']), ', '.join(
                f'{p["class_name"] or p["label"]} {p["score"]:.3f}'
                for p in preds['topk'])))
    print(f'picture: {out_png}')
    print(f'predictions: {out_json}')


if __name__ == '__main__':
    main()
