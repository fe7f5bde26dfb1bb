"""Parameters and FLOPs of a config or backbone, and the paper's Table 3.

Counting is mmengine's (``mmengine.analysis``, fvcore's rules): one
multiply-add of a conv/linear/matmul is one FLOP, norms and pooling count
one per element, element-wise ops (add, ReLU, tanh) count nothing.

Examples (run from the repository root)::

    python tools/analysis_tools/get_flops.py configs/rla_resnet50_4xb64_in1k.py
    python tools/analysis_tools/get_flops.py \\
        configs/faster_rcnn_rla_r50_fpn_1x_coco.py --shape 800 1216
    python tools/analysis_tools/get_flops.py --backbone type=RLAResNet \\
        depth=50 --shape 224 --by-module 2
    # the paper's Table 3 beside our counts; with --out-dir also the
    # cost/accuracy plot (rla_cost_vs_accuracy.png) and the numbers
    # (rla_paper_table.json)
    python tools/analysis_tools/get_flops.py --paper-table --out-dir outputs

Files are written only with ``--out-dir DIR``: ``DIR/flops.json``, or for
``--paper-table`` ``DIR/rla_paper_table.json`` and
``DIR/rla_cost_vs_accuracy.png`` (``--json FILE`` / ``--plot FILE`` still work,
deprecated).
"""
import argparse
import functools
import io
import json
import os
import sys

import torch
from mmengine.config import DictAction

from rla_mm.analysis.build import (build_backbone, build_from_config,
                                   model_kind)
from rla_mm.analysis.outputs import add_out_dir, output_path
from rla_mm.analysis.steps import make_inputs
from rla_mm.engine.fileio import atomic_write_bytes

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PLOT_NAME = 'rla_cost_vs_accuracy.png'

# Table 3 of the RLA paper (ImageNet, 224x224): params (M), FLOPs (G),
# top-1 error (%). The baselines' rows are the paper's, copied from ECA-Net.
PAPER_TABLE3 = [
    # name, paper params M, paper GFLOPs, top-1 err, our config
    ('ResNet-50', 24.37, 3.83, 24.70,
     'mmpretrain::resnet/resnet50_8xb32_in1k.py'),
    ('RLA-ResNet-50', 24.67, 4.17, 22.83,
     'configs/rla_resnet50_4xb64_in1k.py'),
    # MRLA-light (Fang et al., ICLR 2023): its abstract's increments over
    # ResNet-50 (+0.16M params, lambda not counted; +0.07 GFLOPs) on this
    # table's baseline; top-1 77.7 (MRLA Table 1; its ResNet-50: 76.1)
    ('MRLA-light ResNet-50', 24.53, 3.90, 22.30,
     'configs/mrla/mrla-light-resnet50_8xb32_in1k.py'),
    ('ECANet-50', 24.37, 3.83, 22.52, 'derived:RLA-ECANet-50'),
    ('RLA-ECANet-50', 24.67, 4.18, 22.15,
     'configs/rla_eca_resnet50_4xb64_in1k.py'),
    ('ResNet-101', 42.49, 7.30, 23.60,
     'mmpretrain::resnet/resnet101_8xb32_in1k.py'),
    ('RLA-ResNet-101', 42.92, 7.79, 21.48,
     'configs/rla_resnet101_4xb64_in1k.py'),
    ('ECANet-101', 42.49, 7.30, 21.35, 'derived:RLA-ECANet-101'),
    ('RLA-ECANet-101', 42.92, 7.80, 21.13,
     'configs/rla_eca_resnet101_4xb64_in1k.py'),
    ('ResNet-152', 57.40, 10.77, 23.00,
     'mmpretrain::resnet/resnet152_8xb32_in1k.py'),
    ('RLA-ResNet-152', 57.96, 11.47, 21.22,
     'configs/rla_resnet152_4xb64_in1k.py'),
    ('MobileNetV2', 3.34, 0.2996, 28.36,
     'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py'),
    ('RLA-MobileNetV2', 3.46, 0.3518, 27.68,
     'configs/rla_mobilenet_v2_2xb48_in1k.py'),
    ('ECA-MobileNetV2', 3.34, 0.3001, 27.44, 'derived:RLA-ECA-MobileNetV2'),
    ('RLA-ECA-MobileNetV2', 3.46, 0.3524, 27.07,
     'configs/rla_eca_mobilenet_v2_2xb48_in1k.py'),
]
# A derived baseline X = RLA-X - (RLA-model - plain model): rla_mm has no
# plain ECA network, and counts are additive over modules.
DERIVED = {
    'RLA-ECANet-50': ('RLA-ResNet-50', 'ResNet-50'),
    'RLA-ECANet-101': ('RLA-ResNet-101', 'ResNet-101'),
    'RLA-ECA-MobileNetV2': ('RLA-MobileNetV2', 'MobileNetV2'),
}
# The paper's profiler (thop-style, as in ECA-Net) counts ResNet-50 with 1.2M
# parameters fewer than ``numel`` does and its FLOPs like the original
# 'caffe' ResNet (3.8 GMACs, stride in the first 1x1 conv); RLA's *increase*
# is counted alike. See docs/speed.md.
COUNTING_NOTE = (
    'Absolute counts differ from the paper: its baseline rows come from '
    'ECA-Net, whose profiler reports ResNet-50 with 24.37M parameters (sum of '
    'numel: 25.56M) and 3.83 GFLOPs, the cost of the original caffe-style '
    'ResNet (stride in the first 1x1 conv), whereas mmpretrain/mmdet ResNets '
    'stride the 3x3 conv (pytorch style, about 4.1 GMACs). Compare the '
    'increments (delta columns): that is what RLA adds.')


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Parameters and FLOPs (mmengine.analysis)',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('Examples', 1)[1])
    p.add_argument('config', nargs='?', help='config file (or pkg::path)')
    p.add_argument('--backbone', nargs='+', action=DictAction,
                   metavar='KEY=VALUE', help='count a backbone dict instead')
    p.add_argument('--shape', type=int, nargs='+', metavar='H [W]',
                   help='input size; default 224 (800 1216 for detectors)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.add_argument('--by-module', type=int, default=0, metavar='DEPTH',
                   help='also print the per-module table to this depth')
    p.add_argument('--paper-table', action='store_true',
                   help='count the models of the paper\'s Table 3')
    add_out_dir(p, default=None, legacy=('--json', '--plot'),
                help_text='write the numbers (and with --paper-table the '
                f'plot {PLOT_NAME}) into this folder')
    args = p.parse_args(argv)
    sources = (args.config, args.backbone, args.paper_table or None)
    n_src = sum(x is not None for x in sources)
    if n_src != 1:
        p.error('give one of CONFIG, --backbone or --paper-table')
    if args.plot and not args.paper_table:
        p.error('--plot goes with --paper-table')
    if args.shape and len(args.shape) not in (1, 2):
        p.error('--shape takes H or H W')
    return args


def count(model: torch.nn.Module, shape=None, by_module: int = 0) -> dict:
    """params and FLOPs of ``model`` on one image of ``shape`` (H, W)."""
    from mmengine.analysis import FlopAnalyzer, parameter_count
    from mmengine.analysis.print_helper import complexity_stats_table
    kind = model_kind(model)
    if shape is None:
        shape = (800, 1216) if kind == 'detector' else (224, 224)
    elif len(shape) == 1:
        shape = (shape[0], shape[0])
    model.eval()
    x, samples = make_inputs(model, 1, shape, 'cpu', False, train=False)
    if kind == 'detector':
        model.forward = functools.partial(
            model.forward, data_samples=samples, mode='tensor')
    with torch.no_grad():
        analyzer = FlopAnalyzer(model, (x, ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        flops = analyzer.total()
        table = complexity_stats_table(
            analyzer, max_depth=by_module, show_param_shapes=False) \
            if by_module else None
    params = parameter_count(model)['']
    return dict(params=params, flops=flops, shape=tuple(shape), kind=kind,
                table=table)


def _fmt(v, unit):
    return f'{v / unit:.2f}' if v is not None else 'n/a'


def paper_table(json_path=None, plot_path=None) -> list:
    """Count every Table 3 model; print the table beside the paper's, save
    the plot / JSON where asked. Returns the rows."""
    counted = {}
    for name, _, _, _, source in PAPER_TABLE3:
        if source.startswith('derived:'):
            continue
        path = source if '::' in source else os.path.join(REPO_ROOT, source)
        try:
            counted[name] = count(build_from_config(path))
        except (FileNotFoundError, KeyError, ImportError) as e:
            print(f'# {name}: not counted ({type(e).__name__}: {e})',
                  file=sys.stderr)
    for rla_ext, (rla, plain) in DERIVED.items():
        if all(n in counted for n in (rla_ext, rla, plain)):
            name = dict((r[4][8:], r[0]) for r in PAPER_TABLE3
                        if r[4].startswith('derived:'))[rla_ext]
            counted[name] = {
                k: counted[rla_ext][k] - counted[rla][k] + counted[plain][k]
                for k in ('params', 'flops')}
    rows, base = [], None
    for name, p_params, p_flops, err, source in PAPER_TABLE3:
        ours = counted.get(name, {})
        is_rla = name.startswith(('RLA-', 'MRLA-'))
        if not is_rla:
            base = (p_params, p_flops, ours)
        row = dict(model=name, paper_params_m=p_params,
                   paper_gflops=p_flops, paper_top1=100 - err,
                   params_m=ours.get('params', 0) / 1e6 or None,
                   gflops=ours.get('flops', 0) / 1e9 or None, source=source)
        if is_rla and base is not None:
            row['paper_dparams_m'] = p_params - base[0]
            row['paper_dgflops'] = p_flops - base[1]
            if ours and base[2]:
                row['dparams_m'] = (ours['params'] - base[2]['params']) / 1e6
                row['dgflops'] = (ours['flops'] - base[2]['flops']) / 1e9
        rows.append(row)
    _print_paper_table(rows)
    if plot_path:
        plot_cost_vs_accuracy(rows, plot_path)
        print(f'# plot saved to {plot_path}')
    if json_path:
        _write_json(dict(rows=rows, note=COUNTING_NOTE), json_path)
    return rows


def _print_paper_table(rows):
    head = ('model', 'params M paper', 'params M ours', 'GFLOPs paper',
            'GFLOPs ours', 'dParams M paper/ours', 'dGFLOPs paper/ours',
            'top-1 paper')
    print('| ' + ' | '.join(head) + ' |')
    print('|' + '---|' * len(head))
    for r in rows:
        def num(v, f='.2f'):
            return format(v, f) if v is not None else 'n/a'
        dp = (f"+{r['paper_dparams_m']:.2f} / "
              f"+{num(r.get('dparams_m'))}") if 'paper_dparams_m' in r else ''
        df = (f"+{r['paper_dgflops']:.3f} / "
              f"+{num(r.get('dgflops'), '.3f')}") \
            if 'paper_dgflops' in r else ''
        print(f"| {r['model']} | {r['paper_params_m']:.2f} | "
              f"{num(r['params_m'])} | {r['paper_gflops']:.3f} | "
              f"{num(r['gflops'], '.3f')} | {dp} | {df} | "
              f"{r['paper_top1']:.2f} |")
    print()
    print(COUNTING_NOTE)


def _style(name: str):
    """(variant, family) of a Table 3 model name."""
    if name.startswith('MRLA-light '):
        return '+MRLA', name[len('MRLA-light '):]
    rla = name.startswith('RLA-')
    eca = 'ECA' in name
    family = name.replace('RLA-', '').replace('ECA-', '').replace(
        'ECANet', 'ResNet')
    return ('+ECA+RLA' if eca else '+RLA') if rla else \
        ('+ECA' if eca else 'baseline'), family


STYLES = {'baseline': ('s', 'tab:gray'), '+ECA': ('s', 'tab:blue'),
          '+RLA': ('o', 'tab:red'), '+ECA+RLA': ('o', 'tab:purple'),
          '+MRLA': ('D', 'tab:green')}


def plot_cost_vs_accuracy(rows, path):
    """Two panels: our params / FLOPs (x) against the paper's top-1 (y);
    an arrow from each network to its RLA version."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    for ax, key, label, ticks in (
            (axes[0], 'params_m', 'parameters (M, counted by rla_mm)',
             (3, 5, 10, 20, 30, 45, 60)),
            (axes[1], 'gflops', 'GFLOPs at 224x224 (counted by rla_mm)',
             (0.3, 0.5, 1, 2, 4, 8, 12))):
        points = {}
        for r in rows:
            if r[key] is None:
                continue
            variant, family = _style(r['model'])
            points[(variant, family)] = (r[key], r['paper_top1'])
            marker, color = STYLES[variant]
            ax.scatter(*points[(variant, family)], marker=marker, s=36,
                       color=color, zorder=3,
                       label=variant if family == 'ResNet-50' else None)
        for (variant, family), xy in points.items():
            if variant == 'baseline':
                ax.annotate(family, xy, fontsize=8, xytext=(6, -4),
                            textcoords='offset points')
            if variant.endswith('RLA'):
                src = points.get(('+ECA' if variant == '+ECA+RLA' else
                                  'baseline', family))
                if src:
                    ax.annotate('', xy, src, arrowprops=dict(
                        arrowstyle='->', color=STYLES[variant][1], alpha=.6))
        ax.set_xscale('log')
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel('ImageNet top-1 (%, paper Table 3)')
        ax.grid(alpha=.3)
        ax.legend(loc='lower right', fontsize=8)
    fig.suptitle('RLA: cost (rla_mm count) vs accuracy (paper)')
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=110)
    plt.close(fig)
    atomic_write_bytes(buf.getvalue(), path)


def _write_json(obj, path):
    atomic_write_bytes(json.dumps(obj, indent=2, default=str).encode(), path)


def main(argv=None):
    args = parse_args(argv)
    if args.paper_table:
        return paper_table(
            output_path(args, 'rla_paper_table.json', legacy='json'),
            output_path(args, PLOT_NAME, legacy='plot'))
    if args.config:
        model = build_from_config(args.config, args.cfg_options)
    else:
        model = build_backbone(args.backbone)
    res = count(model, args.shape, args.by_module)
    print(f"model: {args.config or dict(args.backbone)}")
    print(f"input: 1x3x{res['shape'][0]}x{res['shape'][1]} ({res['kind']})")
    print(f"params: {res['params'] / 1e6:.3f} M")
    print(f"FLOPs: {res['flops'] / 1e9:.3f} G (multiply-adds)")
    if res['table']:
        print(res['table'])
    json_path = output_path(args, 'flops.json', legacy='json')
    if json_path:
        _write_json({k: v for k, v in res.items() if k != 'table'},
                    json_path)
        print(f'numbers saved to {json_path}')
    return res


if __name__ == '__main__':
    main()
