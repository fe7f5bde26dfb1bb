"""Parameters and FLOPs of a config or backbone, and the RLA paper's tables.

Counting a config or backbone is mmengine's (``mmengine.analysis``, fvcore's
rules): one multiply-add of a conv/linear/matmul is one FLOP, norms count one
per element, element-wise ops (add, ReLU, tanh) count nothing.
``--paper-table`` counts in the paper's own units instead: parameters as
numel / 2^20 and thop's multiply-adds / 2^30, the authors' ``paras_flops.py``
(``rla_mm/analysis/paper_units.py``), for Tables 3, 11 and 15
(``rla_mm/analysis/paper_tables.py``), with a column saying whether each row
agrees with the paper's printed digits.

Examples (run from the repository root)::

    python tools/analysis_tools/get_flops.py configs/rla_resnet50_4xb64_in1k.py
    python tools/analysis_tools/get_flops.py \\
        configs/faster_rcnn_rla_r50_fpn_1x_coco.py --shape 800 1216
    python tools/analysis_tools/get_flops.py --backbone type=RLAResNet \\
        depth=50 --shape 224 --by-module 2
    # the paper's Tables 3, 11 and 15 beside our counts in its units; with
    # --out-dir also the cost/accuracy plot of Table 3
    # (rla_cost_vs_accuracy.png) and the numbers (rla_paper_table.json)
    python tools/analysis_tools/get_flops.py --paper-table --out-dir outputs
    python tools/analysis_tools/get_flops.py --paper-table table11

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
from rla_mm.analysis.paper_tables import TABLES, count_rows
from rla_mm.analysis.paper_units import baddbmm_flop_jit
from rla_mm.analysis.steps import make_inputs
from rla_mm.engine.fileio import atomic_write_bytes

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PLOT_NAME = 'rla_cost_vs_accuracy.png'

#: --paper-table names -> the RLA paper's tables (paper_tables.TABLES).
PAPER_TABLES = {'table3': 'Table 3', 'table11': 'Table 11',
                'table15': 'Table 15'}
COUNTING_NOTE = (
    'The paper prints parameters as numel / 2^20 and FLOPs as thop '
    'multiply-adds / 2^30 (the authors\' paras_flops.py): ResNet-50\'s '
    '24.37M / 3.83G are 25,557,032 parameters and 4,111,514,624 MACs. "ours" '
    'counts rla_mm\'s model the same way (rla_mm/analysis/paper_units.py), '
    'adding the first conv1\'s work on h_0 = 0 that the authors\' code does '
    'and rla_mm skips; "agrees" = rounds to the printed digits.')
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
    p.add_argument('--paper-table', nargs='*', choices=PAPER_TABLES,
                   metavar='TABLE',
                   help='count the models of the RLA paper\'s tables in its '
                   f'units, beside its numbers: {", ".join(PAPER_TABLES)} '
                   '(default: the three RLA tables)')
    add_out_dir(p, default=None, legacy=('--json', '--plot'),
                help_text='write the numbers (and with --paper-table the '
                f'plot {PLOT_NAME}) into this folder')
    args = p.parse_args(argv)
    sources = (args.config, args.backbone, args.paper_table)
    n_src = sum(x is not None for x in sources)
    if n_src != 1:
        p.error('give one of CONFIG, --backbone or --paper-table')
    if args.plot and args.paper_table is None:
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
        # rla_mm's CPU path computes conv1's h half as a batched GEMM
        analyzer.set_op_handle('aten::baddbmm', baddbmm_flop_jit)
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


def paper_table(tables, json_path=None, plot_path=None) -> list:
    """Count every model of ``tables`` (names of ``TABLES``, or ``'csr'``);
    print each beside the paper's numbers, save the Table 3 plot / the JSON
    where asked. Returns all rows (each with its ``table``)."""
    cache, rows = {}, []
    for name in tables:
        title = PAPER_TABLES[name]
        table = count_rows(TABLES[title], REPO_ROOT, cache)
        for row in table:
            row['table'] = title
        rows += table
        print(f'\n## RLA paper, {title}\n')
        _print_paper_table(table)
        for note in dict.fromkeys(r['note'] for r in table if r['note']):
            print(f'\nNote: {note}')
    print()
    print(COUNTING_NOTE)
    table3 = [r for r in rows if r['table'] == 'Table 3']
    if plot_path and table3:
        plot_cost_vs_accuracy(table3, plot_path)
        print(f'# plot saved to {plot_path}')
    if json_path:
        _write_json(dict(rows=rows, note=COUNTING_NOTE), json_path)
    return rows


def _print_paper_table(rows):
    head = ('model', 'params M paper / ours', 'GFLOPs paper / ours',
            'agrees', 'dParams M paper / ours', 'dGFLOPs paper / ours',
            'top-1 paper', 'numel', 'thop MACs')

    def num(v, f='.2f'):
        return format(v, f) if v is not None else '-'

    print('| ' + ' | '.join(head) + ' |')
    print('|' + '---|' * len(head))
    for r in rows:
        fl = '.4f' if (r['paper_gflops'] or 1) < 1 else '.2f'
        delta = [f"{num(r.get(f'paper_{k}'), f)} / {num(r.get(k), f)}"
                 if k in r else '' for k, f in (('dparams_m', '+.2f'),
                                                ('dgflops', '+' + fl))]
        agrees = {True: 'yes', False: '**no**', None: ''}[r['agrees']]
        print(f"| {r['model']} | {num(r['paper_params_m'])} / "
              f"{num(r['params_m'])} | {num(r['paper_gflops'], fl)} / "
              f"{num(r['gflops'], fl)} | {agrees} | {delta[0]} | "
              f"{delta[1]} | {num(r['paper_top1'])} | "
              f"{num(r['params'], ',')} | {num(r['macs'], ',')} |")


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
            (axes[0], 'params_m', 'parameters (M = 2^20, by rla_mm)',
             (3, 5, 10, 20, 30, 45, 60)),
            (axes[1], 'gflops', 'GFLOPs at 224 (thop MACs / 2^30, rla_mm)',
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
    if args.paper_table is not None:
        return paper_table(args.paper_table or list(PAPER_TABLES),
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
