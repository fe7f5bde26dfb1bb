"""Where an RLA backbone's time goes under ONNX Runtime: the profiler of
ONNX Runtime's CPU provider, per node, attributed to the parts of RLA,
beside a baseline exported and run the same way.

Each backbone is exported as ``benchmark.py --runtime onnxruntime`` does
(``rla_mm.analysis.onnx_runtime``), run ``--warmup`` times, then
``--repeats`` times with ONNX Runtime's profiler on; the optimised graph's
node times are summed per part (``ort_part``: by the exporter's node names
and by the k channels of RLA's tensors) and reported per run: the RLA
projection, the recurrent conv, the update ops ONNX Runtime did not fuse,
the concatenation or conv1's h half, the NCHWc layout reorders, the main
path. The profiler adds some overhead; the shares are what this is for.

Examples (run from the repository root)::

    python tools/analysis_tools/profile_ort.py \\
        --backbone type=RLAResNet depth=50 \\
        --baseline-backbone type=mmdet.ResNet depth=50 norm_eval=False \\
        --batch-size 8 --input-size 224 --threads 2
"""
import argparse
import collections
import json
import os
import tempfile

import torch
from mmengine.config import DictAction

from rla_mm.analysis.build import build_backbone
from rla_mm.analysis.onnx_runtime import (export_onnx, make_session,
                                          ort_node_times, ort_part, ort_step)
from rla_mm.analysis.outputs import add_out_dir, output_path
from rla_mm.analysis.steps import make_inputs
from rla_mm.engine.fileio import atomic_write_bytes

OUT_NAME = 'profile_ort.json'


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Profile an RLA backbone under ONNX Runtime',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('Examples', 1)[1])
    p.add_argument('--backbone', nargs='+', action=DictAction,
                   default=dict(type='RLAResNet', depth=50),
                   metavar='KEY=VALUE')
    p.add_argument('--baseline-backbone', nargs='+', action=DictAction,
                   default=dict(type='mmdet.ResNet', depth=50,
                                norm_eval=False),
                   metavar='KEY=VALUE')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--input-size', type=int, nargs='+', default=[224])
    p.add_argument('--threads', type=int, help='intra-op threads')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--top', type=int, default=10,
                   help='also list the N costliest nodes of the RLA model')
    add_out_dir(p, default=None,
                help_text=f'also write the results to DIR/{OUT_NAME}')
    args = p.parse_args(argv)
    if len(args.input_size) not in (1, 2):
        p.error('--input-size takes H or H W')
    if args.repeats < 1 or args.warmup < 0:
        p.error('--repeats must be >= 1, --warmup >= 0')
    return args


def profile_nodes(model, x, args) -> dict:
    """Node times (ms per run) of ``model`` exported and run on ``x``."""
    with tempfile.TemporaryDirectory() as tmp:
        session = make_session(export_onnx(model, (1, *x.shape[1:])),
                               args.threads, os.path.join(tmp, 'ort'))
        step = ort_step(session, x)
        for _ in range(args.warmup + args.repeats):
            step()
        nodes = ort_node_times(session.end_profiling(), args.warmup)
    for node in nodes.values():
        node['ms'] = node.pop('us') / node['runs'] / 1e3
    return nodes


def run(args) -> dict:
    size = args.input_size * 2 if len(args.input_size) == 1 \
        else args.input_size
    torch.manual_seed(0)
    models = dict(baseline=build_backbone(args.baseline_backbone),
                  rla=build_backbone(args.backbone))
    k = getattr(models['rla'], 'rla_channel', None)
    if not k:
        raise SystemExit('error: --backbone: not an RLA backbone (no '
                         '`rla_channel`)')
    nodes = {}
    for name, model in models.items():
        model.eval()
        x, _ = make_inputs(model, args.batch_size, size, 'cpu', False, False)
        nodes[name] = profile_nodes(model, x, args)
    parts = {}
    for name, table in nodes.items():
        per_part = collections.Counter()
        for node_name, node in table.items():
            per_part[ort_part(node_name, node, k)] += node['ms']
        parts[name] = dict(per_part)
    top = sorted(nodes['rla'].items(), key=lambda kv: -kv[1]['ms'])
    return dict(args=vars(args), rla_channel=k, parts=parts,
                total_ms={n: sum(p.values()) for n, p in parts.items()},
                top=[dict(name=n, part=ort_part(n, v, k), **v)
                     for n, v in top[:args.top]])


def report(res: dict) -> str:
    base, rla = res['total_ms']['baseline'], res['total_ms']['rla']
    lines = [f"# ONNX Runtime node time per run: baseline {base:.1f} ms, "
             f"RLA {rla:.1f} ms (x{rla / base:.3f}, +{rla - base:.1f} ms)",
             '', '| part | baseline ms | RLA ms | RLA - baseline |',
             '|---|---|---|---|']
    parts_b, parts_r = res['parts']['baseline'], res['parts']['rla']
    for part in sorted(set(parts_b) | set(parts_r),
                       key=lambda p: -parts_r.get(p, 0)):
        b, r = parts_b.get(part, 0.0), parts_r.get(part, 0.0)
        lines.append(f'| {part} | {b:.1f} | {r:.1f} | {r - b:+.1f} |')
    only = sum(v for p, v in parts_r.items() if p.startswith('RLA'))
    lines.append(f'| **RLA-only parts** | | {only:.1f} | |')
    lines += ['', 'Costliest nodes of the RLA model (ms per run):']
    for node in res['top']:
        lines.append(f"  {node['ms']:8.2f}  {node['op']:<18} {node['part']}"
                     f"  {node['name'][:60]}")
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    res = run(args)
    print(report(res))
    out = output_path(args, OUT_NAME)
    if out:
        atomic_write_bytes(json.dumps(res, indent=2, default=str).encode(),
                           out)
        print(f'# results saved to {out}')
    return res


if __name__ == '__main__':
    main()
