"""Synthetic inputs and one inference or training step of a model.

What ``benchmark.py``, ``get_flops.py`` and ``profile_rla.py`` time, count or
profile: a backbone is called as ``model(x)``; a detector gets mmdet
``DetDataSample``s (three boxes per image, masks if it has a mask head) and a
classifier mmpretrain ``DataSample``s, so ``loss`` / ``predict`` run exactly
as in training and testing, on random pixels.

Example:
    >>> model = prepare(build_backbone(dict(type='RLAResNet', depth=18)),
    ...                 'cpu', channels_last=False, train=True)
    >>> inputs = make_inputs(model, 2, (64, 64), 'cpu', False, train=True)
    >>> step = make_step(model, inputs, train=True, amp=False, device='cpu')
    >>> step()  # forward + backward of a 2x3x64x64 batch
"""
import copy
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from .build import model_kind

__all__ = [
    'BNModeMismatchError', 'make_inputs', 'make_step', 'prepare',
    'bn_train_share', 'check_bn_modes'
]


class BNModeMismatchError(ValueError):
    """Two models to compare run their BatchNorms in different modes."""


def _det_samples(model: nn.Module, batch: int, height: int, width: int,
                 with_gt: bool) -> list:
    import numpy as np
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    samples = []
    for _ in range(batch):
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(height, width),
                ori_shape=(height, width),
                pad_shape=(height, width),
                batch_input_shape=(height, width),
                scale_factor=(1.0, 1.0),
                img_id=0))
        if with_gt:
            boxes = torch.tensor([[0.10, 0.10, 0.50, 0.60],
                                  [0.40, 0.30, 0.90, 0.80],
                                  [0.20, 0.50, 0.45, 0.95]])
            boxes = boxes * torch.tensor([width, height, width, height])
            gt = InstanceData(bboxes=boxes, labels=torch.tensor([0, 1, 0]))
            if getattr(model, 'with_mask', False):
                from mmdet.structures.mask import BitmapMasks
                masks = np.zeros((len(boxes), height, width), np.uint8)
                for m, (x1, y1, x2, y2) in zip(masks, boxes.int().tolist()):
                    m[y1:y2, x1:x2] = 1
                gt.masks = BitmapMasks(masks, height, width)
            sample.gt_instances = gt
        samples.append(sample)
    return samples


def make_inputs(model: nn.Module, batch: int, size: Sequence[int],
                device: str, channels_last: bool,
                train: bool) -> Tuple[Tensor, Optional[list]]:
    """Random inputs for one step of ``model``.

    Args:
        model (nn.Module): A backbone, detector or classifier.
        batch (int): Images per step.
        size (Sequence[int]): (H, W) of the images.
        device (str): ``'cpu'``, ``'cuda'``, ...
        channels_last (bool): Give the images channels-last memory.
        train (bool): Detectors get ground-truth boxes (and masks) to train.

    Returns:
        tuple: ``(x, samples)``: x of shape (batch, 3, H, W), seeded, and
        the data samples (None for a backbone).
    """
    height, width = size
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, height, width, generator=gen).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    kind = model_kind(model)
    if kind == 'detector':
        samples = _det_samples(model, batch, height, width, train)
        return x, [s.to(device) for s in samples]
    if kind == 'classifier':
        from mmpretrain.structures import DataSample
        samples = [DataSample().set_gt_label(0) for _ in range(batch)]
        return x, [s.to(device) for s in samples]
    return x, None


def _backbone_loss(outs) -> Tensor:
    if isinstance(outs, Tensor):
        outs = (outs, )
    return sum(o.float().mean() for o in outs)


def make_step(model: nn.Module,
              inputs: tuple,
              train: bool,
              amp: bool,
              device: str,
              seed: int = 0) -> Callable[[], None]:
    """A closure that runs one step of ``model`` on ``inputs``.

    Args:
        model (nn.Module): Prepared with :func:`prepare`.
        inputs (tuple): From :func:`make_inputs`.
        train (bool): Forward + backward (gradients freed first, no
            optimizer update) if True, else a ``no_grad`` forward (a
            detector's or classifier's ``predict``, post-processing included).
        amp (bool): Autocast: float16 on CUDA, bfloat16 on CPU.
        device (str): Device of the model.
        seed (int): Torch seed set before every step, so a detector samples
            the same proposals each time.
    """
    x, samples = inputs
    kind = model_kind(model)
    amp_dtype = torch.float16 if device.startswith('cuda') else torch.bfloat16

    def forward():
        if kind == 'backbone':
            outs = model(x)
            return _backbone_loss(outs) if train else outs
        if train:
            loss, _ = model.parse_losses(model.loss(x, copy.copy(samples)))
            return loss
        return model.predict(x, copy.copy(samples)) if kind == 'detector' \
            else model.predict(x)

    def step():
        torch.manual_seed(seed)
        with torch.autocast(device.split(':')[0], dtype=amp_dtype,
                            enabled=amp):
            if train:
                model.zero_grad(set_to_none=True)
                forward().backward()
            else:
                with torch.no_grad():
                    forward()

    return step


def prepare(model: nn.Module, device: str, channels_last: bool,
            train: bool) -> nn.Module:
    """Move ``model`` to ``device`` (channels-last memory if asked) and set
    its training mode; returns it."""
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train(train)
    return model


def bn_train_share(model: nn.Module) -> Optional[float]:
    """Share of the model's BatchNorms that normalise with batch statistics
    in its current mode; None if it has none."""
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    if not norms:
        return None
    return sum(m.training for m in norms) / len(norms)


def check_bn_modes(models: Dict[str, nn.Module]) -> None:
    """Refuse to compare training steps of models whose BatchNorms run in
    different modes.

    A BN that normalises with batch statistics costs more in both passes
    than one with frozen statistics (mmdet's ``ResNet`` defaults to
    ``norm_eval=True``, RLAResNet to False), so a training-step ratio would
    measure that instead of the architecture.

    Args:
        models (dict): name -> model, set to training mode; compared with
            ``models['baseline']``.

    Raises:
        BNModeMismatchError: Naming the model, ``norm_eval`` and
            ``--allow-bn-mode-mismatch``.
    """
    shares = {name: bn_train_share(m) for name, m in models.items()}
    base = shares.get('baseline')
    for name, share in shares.items():
        # frozen_stages alone may change the share a little: compare only
        # "some BNs use batch statistics" against "none do"
        if base is None or share is None or (share > 0) == (base > 0):
            continue
        which = {True: 'some use batch statistics',
                 False: 'all use frozen statistics'}
        raise BNModeMismatchError(
            f"in training mode the baseline's BatchNorms {which[base > 0]} "
            f'but those of {name!r} {which[share > 0]} (norm_eval differs; '
            "mmdet's ResNet defaults to norm_eval=True): the training ratio "
            'would measure that. Give both the same norm_eval (e.g. '
            '--baseline-backbone ... norm_eval=False), or pass '
            '--allow-bn-mode-mismatch.')
