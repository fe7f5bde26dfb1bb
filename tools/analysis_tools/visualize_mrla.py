"""Show what MRLA-light retrieves through the depth of a network.

    python tools/analysis_tools/visualize_mrla.py IMAGE CONFIG [--weights CKPT] [--out-dir DIR]

The MRLA counterpart of ``visualize_rla.py`` (MRLA paper: Fang et al.,
"Cross-Layer Retrospective Retrieving via Layer Attention", ICLR 2023,
Eq. 8: O^t = lambda^t (.) O^{t-1} + Concat_h[a_h^t V_h^t]). It runs the
model on IMAGE exactly as ``tools/image_demo.py`` does (mmdet's
``DetInferencer`` or mmpretrain's ``ImageClassificationInferencer``) and
records, with a forward hook on every ``MRLALight`` brick of the backbone
(found by module type), the per-head gates a_h of that image. The figure has

- top: every head's gate a_h (how much of the block's own retrieval V it
  lets in) block by block through the depth, one colour per stage, with the
  mean per block;
- middle: the same gates as a heads x blocks map;
- bottom: |lambda| per block (how much of O^{t-1}, the block's shortcut in
  the authors' code, is carried over): median and 10-90% band over the
  channels. lambda is a weight, so this panel depends on the checkpoint,
  not on the image.

The figure goes to ``DIR/<image stem>_mrla.png`` (default DIR: outputs), the
numbers behind it to ``DIR/<image stem>_mrla.json``, both written atomically;
without ``--weights`` both names end in ``_random_weights``.
"""
import argparse
import io
import json
import os.path as osp
import sys
from collections import OrderedDict

import numpy as np
import torch

from rla_mm.analysis.inference import (build_inferencer, figure_inputs,
                                       random_weights_suffix)
from rla_mm.analysis.outputs import add_out_dir
from rla_mm.engine.fileio import atomic_write_bytes
from rla_mm.models.layers import MRLALight

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODEL_INDEX = osp.join(REPO_ROOT, 'model-index.yml')
__all__ = ['GateRecorder', 'visualize', 'main']


class GateRecorder:
    """Forward hooks on every ``MRLALight`` of ``module``: after a forward,
    ``records`` holds ``(name, gates [n_h])`` per brick in call order (the
    gates of the batch's first image)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.bricks = OrderedDict(
            (name, m) for name, m in module.named_modules()
            if isinstance(m, MRLALight))
        if not self.bricks:
            raise ValueError(
                f'no MRLA-light brick in this model ({type(module).__name__})'
                ': use a config whose backbone is MRLAResNet')
        self.records = []
        self._handles = [
            m.register_forward_hook(self._hook(name))
            for name, m in self.bricks.items()
        ]

    def _hook(self, name):

        def record(module, args, output):
            with torch.no_grad():
                gates = module.head_gates(args[0])[0]
            self.records.append((name, gates.float().cpu()))

        return record

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def summarise(recorder: GateRecorder) -> list:
    """One dict per brick: where it is, its gates, |lambda| statistics."""
    blocks = []
    for name, gates in recorder.records:
        brick = recorder.bricks[name]
        lam = brick.lambda_t.detach().abs().flatten().float().cpu()
        q10, q50, q90 = torch.quantile(
            lam, torch.tensor([0.1, 0.5, 0.9])).tolist()
        blocks.append(
            dict(name=name, stage=name.split('.')[0],
                 channels=brick.channels, num_heads=brick.num_heads,
                 gates=[round(float(g), 6) for g in gates],
                 gate_mean=float(gates.mean()),
                 lambda_abs_median=q50, lambda_abs_q10=q10,
                 lambda_abs_q90=q90, lambda_abs_mean=float(lam.mean())))
    return blocks


def draw(blocks: list, title: str, out: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(
        3, 1, figsize=(max(6.0, 0.28 * len(blocks) + 2), 8.4),
        gridspec_kw=dict(height_ratios=[1.1, 1, 0.9]))
    colours = plt.get_cmap('tab10')
    stages = list(OrderedDict.fromkeys(b['stage'] for b in blocks))
    idx = np.arange(len(blocks))
    ax = axes[0]
    labelled = set()
    for i, b in enumerate(blocks):
        k = stages.index(b['stage'])
        ax.scatter(np.full(b['num_heads'], i), b['gates'], s=6,
                   color=colours(k % 10), alpha=0.6,
                   label=None if b['stage'] in labelled else b['stage'])
        labelled.add(b['stage'])
    ax.plot(idx, [b['gate_mean'] for b in blocks], 'k-', lw=1,
            label='mean over heads')
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel('gate a_h')
    ax.set_title('per-head gates a_h = sigmoid(q_h . k_h / sqrt(d))',
                 fontsize=10)
    ax.legend(fontsize=7, ncol=min(len(stages) + 1, 6))
    heads = max(b['num_heads'] for b in blocks)
    grid = np.full((heads, len(blocks)), np.nan)
    for i, b in enumerate(blocks):
        grid[:b['num_heads'], i] = b['gates']
    shown = axes[1].imshow(grid, aspect='auto', cmap='viridis', vmin=0,
                           vmax=1, interpolation='nearest', origin='lower')
    axes[1].set_ylabel('head')
    axes[1].yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1].set_title('gates, heads x blocks (blank: stage has fewer heads)',
                      fontsize=10)
    fig.colorbar(shown, ax=axes[1], fraction=0.03, pad=0.01)
    ax = axes[2]
    ax.fill_between(idx, [b['lambda_abs_q10'] for b in blocks],
                    [b['lambda_abs_q90'] for b in blocks], alpha=0.3,
                    label='10-90% of channels')
    ax.plot(idx, [b['lambda_abs_median'] for b in blocks], 'o-', ms=3,
            label='median')
    ax.set_ylabel('|lambda|')
    ax.set_title('|lambda| per block: the weight of O^{t-1}', fontsize=10)
    ax.legend(fontsize=7)
    for ax in axes:
        for k, stage in enumerate(stages[1:], start=1):
            first = next(i for i, b in enumerate(blocks)
                         if b['stage'] == stage)
            ax.axvline(first - 0.5, color='0.75', lw=0.8)
    axes[2].set_xlabel('MRLA-light brick (block) through depth')
    for ax in axes[:2]:
        ax.set_xticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, format='png')
    plt.close(fig)
    atomic_write_bytes(buf.getvalue(), out)


def figure_name(image: str, weights) -> str:
    """``<image stem>_mrla[_random_weights].png``."""
    stem = osp.splitext(osp.basename(image))[0]
    return f'{stem}_mrla{random_weights_suffix(weights)}.png'


def visualize(image, config, weights=None, out_dir='outputs', device='cpu'):
    """Make the figure; returns ``(figure path, json path, blocks)``."""
    task, inferencer = build_inferencer(config, weights, device)
    recorder = GateRecorder(inferencer.model.backbone)
    try:
        if task == 'det':
            inferencer(image, no_save_vis=True, no_save_pred=True)
        else:
            inferencer(image)
    finally:
        recorder.remove()
    if len(recorder.records) != len(recorder.bricks):
        raise ValueError(f'{len(recorder.bricks)} MRLA-light bricks but '
                         f'{len(recorder.records)} calls recorded')
    blocks = summarise(recorder)
    out = osp.join(out_dir, figure_name(image, weights))
    source = 'random weights' if weights is None else osp.basename(weights)
    draw(blocks, f'{osp.basename(config)} on {osp.basename(image)} '
         f'({source})', out)
    out_json = osp.splitext(out)[0] + '.json'
    summary = dict(image=image, config=config, weights=weights,
                   blocks=blocks)
    atomic_write_bytes(json.dumps(summary, indent=2).encode(), out_json)
    return out, out_json, blocks


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Figure of the MRLA-light gates and lambdas through depth')
    parser.add_argument('image', help='image file')
    parser.add_argument(
        'config', help='config file, or a model name from model-index.yml')
    parser.add_argument(
        '--weights', help='checkpoint file (default: random weights)')
    add_out_dir(parser, help_text='folder of <image stem>_mrla.png and .json')
    parser.add_argument('--device', default='cpu', help='device')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    config, weights = figure_inputs(args.image, args.config, args.weights,
                                    MODEL_INDEX, REPO_ROOT, 'untrained gates')
    try:
        out, out_json, blocks = visualize(args.image, config, weights,
                                          args.out_dir, args.device)
    except ValueError as e:
        sys.exit(f'error: {e}')
    print(f'gates of {sum(b["num_heads"] for b in blocks)} heads in '
          f'{len(blocks)} MRLA-light bricks recorded')
    print(f'figure: {out}')
    print(f'numbers: {out_json}')


if __name__ == '__main__':
    main()
