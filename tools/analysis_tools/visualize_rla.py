"""Show what the RLA hidden state h carries through the depth of a network.

    python tools/analysis_tools/visualize_rla.py IMAGE CONFIG [--weights CKPT] [--out-dir DIR]

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

The figure goes to ``DIR/<image stem>_rla.png`` (default DIR: outputs), the
numbers behind it to ``DIR/<image stem>_rla.json``; without ``--weights``
both names end in ``_random_weights`` (``<image stem>_rla_random_weights.png``)
so an untrained figure never replaces a trained one. ``--out FIG.png`` still
works (deprecated): the figure goes there and the numbers beside it.

Where the hooks sit (``rla_mm.analysis.hidden_state.HiddenStateRecorder``):
the backbone's RLA units are found by type (``RLAUnit``: ``layer{s}.rla`` of
RLA-ResNet / RLA-ECANet / CIFAR RLA-ResNet, ``layer{g}.rla`` of each group of
RLA-MobileNetV2). A hook on a unit's norm ``norms[j]`` notes that update j
runs; a hook on its recurrent conv, the last op of Eq. (11), records the new
h (RLA-MobileNetV2's units share one recurrent conv per resolution stage, so
the norm tells which group's update it is). Updates that the stage runner
defers to the next block (``split_conv1``, the CPU default) are recorded
like the others.
"""
import argparse
import io
import json
import math
import os.path as osp
import sys
from collections import OrderedDict

import numpy as np

from rla_mm.analysis.hidden_state import HiddenStateRecorder, rms
from rla_mm.analysis.inference import (build_inferencer, figure_inputs,
                                       random_weights_suffix)
from rla_mm.analysis.outputs import add_out_dir, output_path
from rla_mm.engine.fileio import atomic_write_bytes

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODEL_INDEX = osp.join(REPO_ROOT, 'model-index.yml')
__all__ = ['HiddenStateRecorder', 'visualize', 'main']


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Figure of the RLA hidden state through depth')
    parser.add_argument('image', help='image file')
    parser.add_argument(
        'config', help='config file, or a model name from model-index.yml')
    parser.add_argument(
        '--weights', help='checkpoint file (default: random weights)')
    add_out_dir(parser, legacy=('--out', ),
                help_text='folder of <image stem>_rla.png and .json')
    parser.add_argument('--device', default='cpu', help='device')
    return parser.parse_args(argv)


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
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, format='png')
    plt.close(fig)
    atomic_write_bytes(buf.getvalue(), out)


def figure_path(out_dir, image, weights):
    """``DIR/<image stem>_rla[_random_weights].png``."""
    stem = osp.splitext(osp.basename(image))[0]
    return osp.join(out_dir,
                    f'{stem}_rla{random_weights_suffix(weights)}.png')


def visualize(image, config, weights=None, out=None, device='cpu'):
    """Make the figure; returns ``(figure path, json path, summary)``.

    ``out`` is the figure's path (default: :func:`figure_path` in
    ``outputs``); the numbers go beside it with ``.json``.
    """
    task, inferencer = build_inferencer(config, weights, device)
    recorder, x, valid = run_model(inferencer, task, image)
    blocks, maps = summarise(recorder, x.shape, valid)
    picture = input_picture(inferencer.model, x, valid)
    if out is None:
        out = figure_path('outputs', image, weights)
    source = 'random weights' if weights is None else osp.basename(weights)
    title = f'{osp.basename(config)} on {osp.basename(image)} ({source})'
    draw(picture, blocks, maps, title, out)
    summary = dict(
        image=image, config=config, weights=weights,
        input_shape=list(x.shape), valid_shape=list(valid), blocks=blocks)
    out_json = osp.splitext(out)[0] + '.json'
    atomic_write_bytes(json.dumps(summary, indent=2).encode(), out_json)
    return out, out_json, summary


def main(argv=None):
    args = parse_args(argv)
    config, weights = figure_inputs(args.image, args.config, args.weights,
                                    MODEL_INDEX, REPO_ROOT, 'an untrained h')
    name = osp.basename(figure_path('', args.image, weights))
    out = output_path(args, name, legacy='out')
    try:
        out, out_json, summary = visualize(args.image, config, weights, out,
                                           args.device)
    except ValueError as e:
        sys.exit(f'error: {e}')
    print(f'{len(summary["blocks"])} updates of h recorded in '
          f'{len({b["stage"] for b in summary["blocks"]})} stages')
    print(f'figure: {out}')
    print(f'numbers: {out_json}')


if __name__ == '__main__':
    main()
