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
its random initialisation: the tool says so on stderr and in the picture's
file name (``*_random_weights.png``), so a random picture is never mistaken
for a trained model's. That mode exists to check that a config builds and
runs end to end; pass ``--weights`` for meaningful predictions.

Outputs (written to temp files, then renamed into place):
``DIR/<image stem>.png`` (or ``DIR/<image stem>_random_weights.png``) and
``DIR/<image stem>.json`` with the predictions.
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile
import warnings

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODEL_INDEX = osp.join(REPO_ROOT, 'model-index.yml')


class InputError(Exception):
    """A user input (path, model name, option) that cannot be used."""


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
    parser.add_argument(
        '--out-dir', default='outputs', help='output folder (default: '
        'outputs)')
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


def load_model_index(path=MODEL_INDEX):
    """``{name: model entry}`` of every model that ``path`` imports, read with
    the ``modelindex`` package (what ``mim search`` uses)."""
    from modelindex import load
    index = load(path)
    entries = {}
    for model in index.models:
        entries[model.name] = model
    return entries


def resolve_config(config, weights):
    """``(config path, weights path or None, where the weights came from)``.

    Raises ``InputError`` naming the path or name that does not exist.
    """
    if osp.isfile(config):
        return config, weights, '--weights' if weights else None
    if not config.endswith('.py') and osp.isfile(MODEL_INDEX):
        models = load_model_index()
        if config in models:
            model = models[config]
            cfg_path = osp.join(REPO_ROOT, model.config)
            if weights is not None:
                return cfg_path, weights, '--weights'
            if model.weights:
                path = osp.join(REPO_ROOT, model.weights)
                if not osp.isfile(path):
                    raise InputError(
                        f'weights of model {config!r} not found: {path} '
                        '(convert the authors\' release with '
                        'tools/model_converters/rlanet2rla_mm.py, see '
                        'docs/rla_checkpoints.md, or pass --weights)')
                return cfg_path, path, 'model-index.yml'
            return cfg_path, None, None
    raise InputError(f'config file not found: {config} (nor a model name in '
                     f'{osp.relpath(MODEL_INDEX)})')


def check_inputs(args):
    if not osp.isfile(args.image):
        raise InputError(f'image file not found: {args.image}')
    config, weights, source = resolve_config(args.config, args.weights)
    if weights is not None and not osp.isfile(weights):
        raise InputError(f'checkpoint file not found: {weights}')
    topk = getattr(args, 'topk', 1)
    if topk < 1:
        raise InputError(f'--topk must be >= 1, got {topk}')
    return config, weights, source


def task_of(cfg):
    """'det' or 'cls' from the config's scope (or its model type)."""
    scope = cfg.get('default_scope')
    if scope in ('mmdet', 'mmpretrain'):
        return 'det' if scope == 'mmdet' else 'cls'
    model_type = cfg.model.get('type', '')
    if 'Classifier' in model_type:
        return 'cls'
    return 'det'


def dataset_classes(cfg, scope):
    """Class names of the config's test set (no annotation file is read)."""
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope(scope)
    try:
        dataset_cfg = dict(cfg.test_dataloader.dataset)
        dataset_cfg['lazy_init'] = True
        classes = DATASETS.build(dataset_cfg).metainfo.get('classes')
    except Exception:  # noqa: BLE001 (data absent: fall back to the model)
        return None
    return list(classes) if classes is not None else None


def build_inferencer(config, weights, device='cpu'):
    """Return ``(task, inferencer)``: mmdet's ``DetInferencer`` or
    mmpretrain's ``ImageClassificationInferencer`` for an rla_mm config."""
    import rla_mm  # noqa: F401  (registers rla_mm models in every registry)
    from mmengine.config import Config

    cfg = Config.fromfile(config)
    task = task_of(cfg)
    with warnings.catch_warnings():
        # Both inferencers warn about random weights; main() says it once.
        warnings.simplefilter('ignore', UserWarning)
        if task == 'det':
            from mmdet.apis import DetInferencer
            inferencer = DetInferencer(
                model=cfg, weights=weights, device=device,
                show_progress=False)
            meta = inferencer.model.dataset_meta
            if weights is None or 'classes' not in meta:
                classes = dataset_classes(cfg, 'mmdet')
                if classes is not None:
                    meta['classes'] = classes
            inferencer.visualizer.dataset_meta = meta
        else:
            from mmpretrain.apis import ImageClassificationInferencer
            inferencer = ImageClassificationInferencer(
                model=cfg, pretrained=weights or False, device=device)
            if inferencer.classes is None:
                inferencer.classes = dataset_classes(cfg, 'mmpretrain')
    return task, inferencer


def atomic_write(path, write):
    """Call ``write(tmp_path)`` and move the result to ``path``."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix='.tmp_', suffix=osp.splitext(path)[1])
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file 0600; give it the permissions of a new file
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


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
    stem = osp.splitext(osp.basename(args.image))[0]
    suffix = '_random_weights' if weights is None else ''
    out_png = osp.join(args.out_dir, f'{stem}{suffix}.png')
    out_json = osp.join(args.out_dir, f'{stem}.json')

    import mmcv
    atomic_write(out_png, lambda p: mmcv.imwrite(picture[..., ::-1], p))

    def dump(path):
        with open(path, 'w') as f:
            json.dump(preds, f, indent=2)

    atomic_write(out_json, dump)
    return task, out_png, out_json, preds


def main(argv=None):
    args = parse_args(argv)
    try:
        config, weights, source = check_inputs(args)
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
