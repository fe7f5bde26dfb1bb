"""Where RLA's cost goes: a torch.profiler breakdown of an RLA backbone's
step into the parts of the RLA module, beside a baseline's step.

Every top-level aten op of the RLA model's forward is attributed to the
rla_mm function that issued it (the profiler's Python stack): the concat
``cat(x, h)``, conv1's h part, the RLA projection ``conv_out``, the h update
(add, norm, tanh), the recurrent 3x3 conv, the pooling of h, and the parts
RLA shares with a plain ResNet (stem, block body, shortcut). Times are summed
over ``--repeats`` profiled steps and reported per step. For training steps
the backward is broken down by autograd node (ConvolutionBackward0, ...)
beside the baseline's. The profiler adds overhead, so totals are a bit above
benchmark.py's; the shares are what this tool is for.

Examples (run from the repository root)::

    python tools/analysis_tools/profile_rla.py \\
        --backbone type=RLAResNet depth=50 \\
        --baseline-backbone type=mmdet.ResNet depth=50 norm_eval=False \\
        --batch-size 8 --input-size 224 --threads 2 --mode infer
    # the concatenation path (split_conv1=False), a training step
    python tools/analysis_tools/profile_rla.py \\
        --backbone type=RLAResNet depth=50 split_conv1=False \\
        --batch-size 8 --input-size 224 --mode train
"""
import argparse
import collections
import json
import os
import re
import sys

import torch
from mmengine.config import DictAction
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (build_backbone, check_bn_modes,  # noqa: E402
                     make_inputs, make_step, prepare)

# (file, function) of the innermost rla_mm frame -> part of the model
PARTS = {
    ('rla_resnet.py', 'forward'): 'stem (conv, norm, ReLU, max-pool)',
    ('rla_res_layer.py', 'forward'): 'block body (conv2/3, norms, ReLU)',
    ('rla_res_layer.py', '_finish'): 'shortcut + residual add (+ECA)',
    ('rla_unit.py', 'forward'): 'RLA conv_out (1x1, C->k)',
    ('rla_unit.py', 'pool_hidden'): 'RLA pool h',
}
RLA_PREFIX = 'RLA '
# One GEMM computes conv_out(y) (k rows) and the next conv1_x(y) (width
# rows); its time is split between the two in proportion to the rows.
SHARED = 'shared GEMM'
SHARED_PARTS = ('RLA conv_out (in the shared GEMM, by rows)',
                'conv1 (x part, in the shared GEMM, by rows)')
_FRAME = re.compile(r'([^/\s]+\.py)\(\d+\): (\S+)$')


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Profile where an RLA backbone spends its time',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('Examples', 1)[1])
    p.add_argument('--backbone', nargs='+', action=DictAction,
                   default=dict(type='RLAResNet', depth=50),
                   metavar='KEY=VALUE')
    p.add_argument('--baseline-backbone', nargs='+', action=DictAction,
                   default=dict(type='mmdet.ResNet', depth=50,
                                norm_eval=False),
                   metavar='KEY=VALUE')
    p.add_argument('--mode', choices=['infer', 'train'], default='infer')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--input-size', type=int, nargs='+', default=[224])
    p.add_argument('--threads', type=int)
    p.add_argument('--channels-last', action='store_true')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--allow-bn-mode-mismatch', action='store_true',
                   help='profile a training step even if the two models run '
                   'their BatchNorms in different modes (norm_eval)')
    p.add_argument('--top', type=int, default=10,
                   help='also list the N costliest ops of the RLA model')
    p.add_argument('--json')
    args = p.parse_args(argv)
    if len(args.input_size) not in (1, 2):
        p.error('--input-size takes H or H W')
    if args.repeats < 1:
        p.error('--repeats must be >= 1')
    return args


def _is_op(evt) -> bool:
    return evt.name.startswith('aten::')


def _innermost_frame(evt):
    """(file, function) of the nearest rla_mm frame above an op."""
    parent = evt.cpu_parent
    while parent is not None:
        if 'rla_mm/' in parent.name:
            m = _FRAME.search(parent.name)
            if m:
                return m.group(1), m.group(2)
        parent = parent.cpu_parent
    return None


def _classify(evt, rla_channels: int) -> str:
    name = evt.name
    frame = _innermost_frame(evt)
    if frame is None:
        parent = evt.cpu_parent
        while parent is not None:
            if parent.name.startswith('autograd::engine'):
                return 'backward (see the op table)'
            parent = parent.cpu_parent
        return 'other'
    file, func = frame
    if name == 'aten::cat' and func != '_shared_gemm':
        if file == 'rla_resnet.py':
            return 'concat h to the output (classifier)'
        return 'RLA cat(x, h) for conv1'

    if file == 'rla_unit.py' and func == 'update':
        if 'conv' in name:
            return 'RLA recurrent conv (3x3, k->k)'
        return 'RLA h update (add, norm, tanh)'
    if (file, func) in (('rla_res_layer.py', '_conv1'),
                        ('rla_conv1.py', 'conv_with_weight'),
                        ('rla_conv1.py', 'conv_on_cat')):
        shapes = evt.input_shapes or []
        if 'conv' in name and shapes and len(shapes[0]) == 4 \
                and shapes[0][1] == rla_channels:
            return 'RLA conv1 h part (split_conv1)'
        if name.startswith('aten::add'):
            return 'RLA conv1 h part (split_conv1)'
        return 'conv1 (on x, or on cat(x, h))'
    if func == '_shared_gemm':
        return SHARED
    return PARTS.get(frame, f'other ({file}:{func})')


def _profile(step, repeats: int):
    with profile(activities=[ProfilerActivity.CPU], with_stack=True,
                 record_shapes=True) as prof:
        for _ in range(repeats):
            step()
    return prof


def forward_parts(prof, rla_channels: int, repeats: int) -> dict:
    parts = collections.Counter()
    for evt in prof.events():
        if not _is_op(evt) or (evt.cpu_parent is not None
                               and _is_op(evt.cpu_parent)):
            continue
        if evt.name.startswith('autograd::'):
            continue
        part = _classify(evt, rla_channels)
        if part == SHARED:
            share = 0.
            shapes = evt.input_shapes or []
            if 'conv' in evt.name and len(shapes) > 1 and shapes[1]:
                share = rla_channels / shapes[1][0]  # k / (width + k)
            parts[SHARED_PARTS[0]] += share * evt.cpu_time_total
            parts[SHARED_PARTS[1]] += (1 - share) * evt.cpu_time_total
        else:
            parts[part] += evt.cpu_time_total
    return {k: v / repeats / 1e3 for k, v in parts.items()  # ms per step
            if v > 0}


def by_name(prof, repeats: int) -> dict:
    """Self CPU ms per step per op / autograd node name."""
    out = collections.Counter()
    for item in prof.key_averages():
        out[item.key] += item.self_cpu_time_total
    return {k: v / repeats / 1e3 for k, v in out.items()}


def top_ops(prof, n: int, repeats: int) -> list:
    items = sorted(prof.key_averages(group_by_input_shape=True),
                   key=lambda i: -i.self_cpu_time_total)[:n]
    return [(i.key, str(i.input_shapes)[:70],
             i.self_cpu_time_total / repeats / 1e3) for i in items]


def run(args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    size = args.input_size * 2 if len(args.input_size) == 1 \
        else args.input_size
    train = args.mode == 'train'
    torch.manual_seed(0)
    models = dict(baseline=build_backbone(args.baseline_backbone),
                  rla=build_backbone(args.backbone))
    k = getattr(models['rla'], 'rla_channel', 0)
    profiles = {}
    for model in models.values():
        prepare(model, 'cpu', args.channels_last, train)
    if train and not args.allow_bn_mode_mismatch:
        check_bn_modes(models)
    for name, model in models.items():
        inputs = make_inputs(model, args.batch_size, size, 'cpu',
                             args.channels_last, train)
        step = make_step(model, inputs, train, False, 'cpu')
        for _ in range(args.warmup):
            step()
        profiles[name] = _profile(step, args.repeats)
    totals = {n: sum(by_name(p, args.repeats).get(key, 0)
                     for key in by_name(p, args.repeats)
                     if key.startswith('aten::'))
              for n, p in profiles.items()}
    result = dict(args={k_: v for k_, v in vars(args).items()},
                  threads=torch.get_num_threads(),
                  parts=forward_parts(profiles['rla'], k, args.repeats),
                  ops={n: by_name(p, args.repeats)
                       for n, p in profiles.items()},
                  aten_total_ms=totals,
                  top=top_ops(profiles['rla'], args.top, args.repeats))
    return result


def report(res: dict, train: bool) -> str:
    lines = []
    base, rla = res['aten_total_ms']['baseline'], res['aten_total_ms']['rla']
    lines.append(f"# threads={res['threads']}; self CPU time of all aten ops"
                 f" per step: baseline {base:.1f} ms, RLA {rla:.1f} ms "
                 f"(x{rla / base:.3f}, +{rla - base:.1f} ms)")
    parts = res['parts']
    fwd = sum(parts.values())
    rla_parts = {k: v for k, v in parts.items() if k.startswith(RLA_PREFIX)}
    lines.append('')
    lines.append('The RLA model\'s step by part (ms per step):')
    lines.append('| part | ms | % of RLA step | % of baseline step |')
    lines.append('|---|---|---|---|')
    for k, v in sorted(parts.items(), key=lambda kv: -kv[1]):
        lines.append(f'| {k} | {v:.1f} | {100 * v / fwd:.1f} | '
                     f'{100 * v / base:.1f} |')
    lines.append(f'| **RLA-only parts** | {sum(rla_parts.values()):.1f} | '
                 f'{100 * sum(rla_parts.values()) / fwd:.1f} | '
                 f'{100 * sum(rla_parts.values()) / base:.1f} |')
    ops_b, ops_r = res['ops']['baseline'], res['ops']['rla']
    diff = {k: ops_r.get(k, 0) - ops_b.get(k, 0)
            for k in set(ops_b) | set(ops_r)}
    lines.append('')
    lines.append('Largest differences by op / autograd node (self CPU ms '
                 'per step)' + (', forward and backward:' if train else ':'))
    lines.append('| op | baseline | RLA | RLA - baseline |')
    lines.append('|---|---|---|---|')
    for k, v in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:12]:
        lines.append(f'| {k} | {ops_b.get(k, 0):.1f} | {ops_r.get(k, 0):.1f}'
                     f' | {v:+.1f} |')
    if res['top']:
        lines.append('')
        lines.append('Costliest ops of the RLA model (self CPU ms per step):')
        for key, shapes, ms in res['top']:
            lines.append(f'  {ms:8.2f}  {key}  {shapes}')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    res = run(args)
    print(report(res, args.mode == 'train'))
    if args.json:
        from rla_mm.utils import atomic_write_bytes
        atomic_write_bytes(json.dumps(res, indent=2, default=str).encode(),
                           args.json)
    return res


if __name__ == '__main__':
    main()
