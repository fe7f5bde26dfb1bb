"""Run an rla_mm config on one image through mmdet's / mmpretrain's
inferencers, with every user input checked before the model is built.

``tools/image_demo.py`` and ``tools/analysis_tools/visualize_rla.py`` share
this: a detector config (mmdet scope) goes through mmdet's ``DetInferencer``,
a classifier config (mmpretrain scope) through mmpretrain's
``ImageClassificationInferencer``; both build rla_mm configs as they are once
``rla_mm`` is imported. A config may also be named by a model of
``model-index.yml``, which then supplies its weights. A missing, empty,
truncated or non-image input is an :class:`InputError` naming the file, raised
before anything slow happens.

Example:
    >>> check_image('data/demo/val/00001.png')      # decodes: returns None
    >>> task, inferencer = build_inferencer(
    ...     'configs/demo/faster_rcnn_rla_demo.py', weights=None)
    >>> task
    'det'
"""
import io
import os.path as osp
import sys
import warnings
from typing import Optional, Tuple

__all__ = [
    'InputError', 'check_image', 'load_model_index', 'resolve_config',
    'check_inputs', 'figure_inputs', 'task_of', 'build_inferencer',
    'random_weights_suffix'
]


class InputError(Exception):
    """A user input (path, model name, option) that cannot be used."""


def random_weights_suffix(weights: Optional[str]) -> str:
    """What the tools append to an output's name when the model keeps its
    random initialisation, so such outputs never replace a trained
    model's: ``'_random_weights'`` without weights, else ``''``."""
    return '_random_weights' if weights is None else ''


def check_image(path: str) -> None:
    """Make sure ``path`` is an image that mmcv (OpenCV) decodes completely.

    Raises:
        InputError: For a missing or empty file, one that Pillow finds
            truncated or corrupt (OpenCV decodes some truncated files
            silently, with grey or missing rows), or one that OpenCV cannot
            decode.
    """
    if not osp.isfile(path):
        raise InputError(f'image file not found: {path}')
    with open(path, 'rb') as f:
        data = f.read()
    if not data:
        raise InputError(f'image file is empty: {path}')
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except UnidentifiedImageError:
        pass  # maybe a format that only OpenCV reads: it decides below
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f'image file is truncated or corrupt: {path} ({e})')
    if _opencv_decode(data) is None:
        raise InputError(
            f'not an image (OpenCV cannot decode it): {path}; give a PNG, '
            'JPEG, BMP, ... file')


def _opencv_decode(data: bytes):
    """``mmcv.imfrombytes`` (what the inferencers' loading uses) with
    OpenCV's own stderr warnings silenced; None if it cannot decode."""
    import cv2
    import mmcv
    import numpy as np
    logging = getattr(getattr(cv2, 'utils', None), 'logging', None)
    level = logging.getLogLevel() if logging else None
    try:
        if logging:
            logging.setLogLevel(logging.LOG_LEVEL_SILENT)
        decoded = mmcv.imfrombytes(data)
    except Exception:  # noqa: BLE001  (cv2.error on some garbage)
        decoded = None
    finally:
        if logging:
            logging.setLogLevel(level)
    if not isinstance(decoded, np.ndarray) or decoded.size == 0:
        return None
    return decoded


def load_model_index(path: str) -> dict:
    """``{name: model entry}`` of every model that the OpenMMLab model index
    ``path`` imports, read with the ``modelindex`` package (what
    ``mim search`` uses)."""
    from modelindex import load
    return {model.name: model for model in load(path).models}


def resolve_config(config: str, weights: Optional[str], model_index: str,
                   root: str) -> Tuple[str, Optional[str], Optional[str]]:
    """Resolve a config path or model-index name.

    Args:
        config (str): Config file, or a model name from ``model_index``.
        weights (str, optional): ``--weights`` as given.
        model_index (str): Path of ``model-index.yml``.
        root (str): Folder the index's paths are relative to.

    Returns:
        tuple: (config path, weights path or None, where the weights came
        from: ``'--weights'``, ``'model-index.yml'`` or None).

    Raises:
        InputError: Naming the path or name that does not exist.
    """
    if osp.isfile(config):
        return config, weights, '--weights' if weights else None
    if not config.endswith('.py') and osp.isfile(model_index):
        models = load_model_index(model_index)
        if config in models:
            model = models[config]
            cfg_path = osp.join(root, model.config)
            if weights is not None:
                return cfg_path, weights, '--weights'
            if model.weights:
                path = osp.join(root, model.weights)
                if not osp.isfile(path):
                    raise InputError(
                        f'weights of model {config!r} not found: {path} '
                        '(convert the authors\' release with '
                        'tools/model_converters/rlanet2rla_mm.py, see '
                        'docs/rla_checkpoints.md, or pass --weights)')
                return cfg_path, path, 'model-index.yml'
            return cfg_path, None, None
    raise InputError(f'config file not found: {config} (nor a model name in '
                     f'{osp.relpath(model_index)})')


def check_inputs(image: str, config: str, weights: Optional[str],
                 model_index: str, root: str):
    """Check the image (decodes completely), the config and the weights.

    Returns:
        tuple: As :func:`resolve_config`.

    Raises:
        InputError: The first input that cannot be used, named.
    """
    check_image(image)
    config, weights, source = resolve_config(config, weights, model_index,
                                             root)
    if weights is not None and not osp.isfile(weights):
        raise InputError(f'checkpoint file not found: {weights}')
    return config, weights, source


def figure_inputs(image: str, config: str, weights: Optional[str],
                  model_index: str, root: str, untrained: str):
    """:func:`check_inputs` for a figure tool's ``main``: a bad input exits
    with one ``error:`` line; no weights print a warning that the figure
    shows ``untrained`` (e.g. 'an untrained h'). Returns (config, weights).
    """
    try:
        config, weights, _ = check_inputs(image, config, weights,
                                          model_index, root)
    except InputError as e:
        sys.exit(f'error: {e}')
    if weights is None:
        print('WARNING: no --weights: the model keeps its RANDOM '
              f'initialisation; the figure shows {untrained}.',
              file=sys.stderr)
    return config, weights


def task_of(cfg) -> str:
    """``'det'`` or ``'cls'`` from the config's scope (or its model type)."""
    scope = cfg.get('default_scope')
    if scope in ('mmdet', 'mmpretrain'):
        return 'det' if scope == 'mmdet' else 'cls'
    return 'cls' if 'Classifier' in cfg.model.get('type', '') else 'det'


def _dataset_classes(cfg, scope: str):
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


def build_inferencer(config: str, weights: Optional[str], device='cpu'):
    """Build the inferencer of an rla_mm config.

    Args:
        config (str): Config file.
        weights (str, optional): Checkpoint; None keeps random weights.
        device (str): ``'cpu'``, ``'cuda:0'``, ...

    Returns:
        tuple: ``(task, inferencer)``: ``'det'`` and mmdet's
        ``DetInferencer``, or ``'cls'`` and mmpretrain's
        ``ImageClassificationInferencer``.
    """
    from mmengine.config import Config

    import rla_mm  # noqa: F401  (registers rla_mm models in every registry)
    cfg = Config.fromfile(config)
    task = task_of(cfg)
    with warnings.catch_warnings():
        # both inferencers warn about random weights; the tools say it once
        warnings.simplefilter('ignore', UserWarning)
        if task == 'det':
            from mmdet.apis import DetInferencer
            inferencer = DetInferencer(
                model=cfg, weights=weights, device=device,
                show_progress=False)
            meta = inferencer.model.dataset_meta
            if weights is None or 'classes' not in meta:
                classes = _dataset_classes(cfg, 'mmdet')
                if classes is not None:
                    meta['classes'] = classes
            inferencer.visualizer.dataset_meta = meta
        else:
            from mmpretrain.apis import ImageClassificationInferencer
            inferencer = ImageClassificationInferencer(
                model=cfg, pretrained=weights or False, device=device)
            if inferencer.classes is None:
                inferencer.classes = _dataset_classes(cfg, 'mmpretrain')
    return task, inferencer
