"""Show what the RLA hidden state h carries through the depth of a network.

    python tools/analysis_tools/visualize_rla.py IMAGE CONFIG [--weights CKPT] [--out FIG.png]

Runs the model on IMAGE exactly as ``tools/image_demo.py`` does (mmdet's
``DetInferencer`` or mmpretrain's ``ImageClassificationInferencer``: the
config's own test pipeline and data preprocessor) and records every update of
h (RLA paper Eq. (11)) with forward hooks. The figure, in the spirit of the
paper's Fig. 2, has

- top: the image as the network saw it, then for each stage (``layer{s}``)
  the map of |h| averaged over its k channels after the stage's last update,
  upsampled over the image;
- bottom: the norm of h after every block through the depth (RMS over
  channels and positions, so stages of different resolution compare), one
  colour per stage.

The numbers behind the figure go to ``FIG.json`` beside it.

Where the hooks sit: every stage of an RLA backbone has its RLA unit at
``layer{s}.rla`` (``RLAUnit`` for RLA-ResNet / RLA-ECANet / CIFAR RLA-ResNet,
``RLAGroupUnit`` for RLA-MobileNetV2). Each update of h ends with the unit's
recurrent 3x3 conv, ``layer{s}.rla.recurrent_conv`` (a state-dict name, so a
stable one), whose output is the new h; a unit without that child (the
MobileNetV2 unit, whose recurrent conv is shared by the groups of a
resolution stage) returns the new h from its own forward. Hooking the conv
rather than the unit's ``forward`` also records the updates that a fast path
computes through ``RLAUnit.update`` (``split_conv1``, the CPU default).
"""
import argparse
import json
import math
import os.path as osp
import sys
from collections import OrderedDict

import numpy as np

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, TOOLS)
from image_demo import (InputError, atomic_write, build_inferencer,  # noqa
                        check_inputs)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Figure of the RLA hidden state through depth')
    parser.add_argument('image', help='image file')
    parser.add_argument(
        'config', help='config file, or a model name from model-index.yml')
    parser.add_argument(
        '--weights', help='checkpoint file (default: random weights)')
    parser.add_argument(
        '--out',
        help='figure path (default: outputs/<image stem>_rla.png); the '
        'numbers go to the same path with .json')
    parser.add_argument('--device', default='cpu', help='device')
    return parser.parse_args(argv)


class HiddenStateRecorder:
    """Record every update of h of an RLA backbone with forward hooks.

    After a forward pass, ``records`` holds ``(stage name, block index, h)``
    in the order the updates ran, h of the first image as a CPU tensor
    ``(k, H, W)``.

    Args:
        backbone (nn.Module): An rla_mm RLA backbone.

    Raises:
        ValueError: If ``backbone`` has no RLA unit (``layer*.rla``).
    """

    def __init__(self, backbone):
        self.expected = OrderedDict()  # stage name -> number of updates
        self.records = []
        self._handles = []
        for name, module in backbone.named_modules():
            if name.rsplit('.', 1)[-1] != 'rla' or not hasattr(
                    module, 'norms'):
                continue
            stage = name.rsplit('.', 1)[0] if '.' in name else name
            self.expected[stage] = len(module.norms)
            target = getattr(module, 'recurrent_conv', None) or module
            self._handles.append(
                target.register_forward_hook(self._hook(stage)))
        if not self.expected:
            raise ValueError(
                f'the backbone ({type(backbone).__name__}) has no RLA units '
                '(modules named layer*.rla): visualize_rla.py needs an RLA '
                'backbone (RLAResNet, RLAECAResNet, RLAResNetCIFAR, '
                'RLAMobileNetV2)')

    def _hook(self, stage):

        def hook(module, inputs, output):
            index = sum(1 for r in self.records if r[0] == stage)
            self.records.append(
                (stage, index, output[0].detach().float().cpu().clone()))

        return hook

    def check_complete(self):
        """Raise ``RuntimeError`` unless every built update was recorded
        exactly once."""
        for stage, num in self.expected.items():
            got = sum(1 for r in self.records if r[0] == stage)
            if got != num:
                raise RuntimeError(
                    f'recorded {got} updates of h in {stage}, expected {num} '
                    '(one per built norm of its RLA unit): the backbone '
                    'computes h in a way these hooks do not see')

    def remove(self):
        for handle in self._handles:
            handle.remove()
        self._handles = []


def rms(h):
    """Norm of h comparable across resolutions: ||h||_2 / sqrt(numel)."""
    return float(h.pow(2).mean().sqrt())


def run_model(inferencer, task, image):
    """Run the inferencer on ``image``; returns ``(recorder, input tensor,
    valid (h, w) of the input)``."""
    model = inferencer.model
    recorder = HiddenStateRecorder(model.backbone)
    seen = {}

    def grab_input(module, args):
        seen['x'] = args[0].detach().float().cpu()

    pre = model.backbone.register_forward_pre_hook(grab_input)
    try:
        if task == 'det':
            out = inferencer(
                image, return_datasamples=True, no_save_vis=True,
                no_save_pred=True)
            sample = out['predictions'][0]
        else:
            sample = inferencer(image, return_datasamples=True)[0]
    finally:
        pre.remove()
        recorder.remove()
    recorder.check_complete()
    x = seen['x']
    valid = sample.metainfo.get('img_shape', tuple(x.shape[-2:]))
    return recorder, x, (min(valid[0], x.shape[-2]), min(valid[1],
                                                           x.shape[-1]))


def input_picture(model, x, valid):
    """The network's input as an RGB uint8 picture (de-normalised)."""
    pre = model.data_preprocessor
    img = x[0]
    if getattr(pre, '_enable_normalize', False):
        img = img * pre.std.cpu() + pre.mean.cpu()
    img = img[:, :valid[0], :valid[1]].permute(1, 2, 0).numpy()
    if not getattr(pre, '_channel_conversion', False):
        img = img[..., ::-1]  # still BGR as mmcv loaded it
    return np.clip(img, 0, 255).astype(np.uint8)


def summarise(recorder, x_shape, valid):
    """Per-block norms and per-stage |h| maps (cropped to the image)."""
    blocks = [
        dict(stage=s, block=j, shape=list(h.shape), rms=rms(h),
             mean_abs=float(h.abs().mean()))
        for s, j, h in recorder.records
    ]
    maps = OrderedDict()
    for stage, _, h in recorder.records:  # the last update of each stage
        rows = math.ceil(h.shape[-2] * valid[0] / x_shape[-2])
        cols = math.ceil(h.shape[-1] * valid[1] / x_shape[-1])
        maps[stage] = h.abs().mean(0)[:rows, :cols].numpy()
    return blocks, maps


def draw(picture, blocks, maps, title, out):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.gridspec import GridSpec

    cols = len(maps) + 1
    fig = plt.figure(figsize=(2.4 * cols, 6.2))
    grid = GridSpec(2, cols, height_ratios=[1, 1.1], figure=fig)
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(picture)
    ax.set_title('input', fontsize=9)
    ax.axis('off')
    height, width = picture.shape[:2]
    for i, (stage, hmap) in enumerate(maps.items(), start=1):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(picture, alpha=0.45)
        shown = ax.imshow(
            hmap, cmap='magma', alpha=0.75, interpolation='bilinear',
            extent=(0, width, height, 0))
        ax.set_title(f'{stage}: mean |h|\n{hmap.shape[0]}x{hmap.shape[1]}',
                     fontsize=9)
        ax.axis('off')
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
    ax = fig.add_subplot(grid[1, :])
    colours = plt.get_cmap('tab10')
    stages = list(OrderedDict.fromkeys(b['stage'] for b in blocks))
    for k, stage in enumerate(stages):
        idx = [i for i, b in enumerate(blocks) if b['stage'] == stage]
        ax.plot(idx, [blocks[i]['rms'] for i in idx], 'o-', ms=3,
                color=colours(k % 10), label=stage)
        if k:
            ax.axvline(idx[0] - 0.5, color='0.8', lw=0.8)
    ax.set_xlabel('h update (block) through depth')
    ax.set_ylabel('RMS of h  (||h|| / sqrt(k H W))')
    ax.set_title('norm of the RLA hidden state after every block',
                 fontsize=10)
    ax.legend(fontsize=8, ncol=min(len(stages), 7))
    ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    atomic_write(out, lambda p: fig.savefig(p, dpi=110, format='png'))
    plt.close(fig)


def visualize(image, config, weights=None, out=None, device='cpu'):
    """Make the figure; returns ``(figure path, json path, summary)``."""
    task, inferencer = build_inferencer(config, weights, device)
    recorder, x, valid = run_model(inferencer, task, image)
    blocks, maps = summarise(recorder, x.shape, valid)
    picture = input_picture(inferencer.model, x, valid)
    if out is None:
        stem = osp.splitext(osp.basename(image))[0]
        out = osp.join('outputs', f'{stem}_rla.png')
    source = 'random weights' if weights is None else osp.basename(weights)
    title = f'{osp.basename(config)} on {osp.basename(image)} ({source})'
    draw(picture, blocks, maps, title, out)
    summary = dict(
        image=image, config=config, weights=weights,
        input_shape=list(x.shape), valid_shape=list(valid), blocks=blocks)
    out_json = osp.splitext(out)[0] + '.json'

    def dump(path):
        with open(path, 'w') as f:
            json.dump(summary, f, indent=2)

    atomic_write(out_json, dump)
    return out, out_json, summary


def main(argv=None):
    args = parse_args(argv)
    try:
        config, weights, _ = check_inputs(args)
    except InputError as e:
        sys.exit(f'error: {e}')
    if weights is None:
        print('WARNING: no --weights: the model keeps its RANDOM '
              'initialisation; the figure shows an untrained h.',
              file=sys.stderr)
    try:
        out, out_json, summary = visualize(args.image, config, weights,
                                           args.out, args.device)
    except ValueError as e:
        sys.exit(f'error: {e}')
    print(f'{len(summary["blocks"])} updates of h recorded in '
          f'{len({b["stage"] for b in summary["blocks"]})} stages')
    print(f'figure: {out}')
    print(f'numbers: {out_json}')


if __name__ == '__main__':
    main()
