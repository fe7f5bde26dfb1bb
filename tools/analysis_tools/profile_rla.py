"""Where RLA's cost goes: a torch.profiler breakdown of an RLA backbone's
step into the parts of the RLA module, beside a baseline's step.

Every top-level aten op of the RLA model's forward is attributed to the part
of the model that issued it, found by module type (``rla_mm.analysis.parts``:
profiler ranges around the RLA units, their projection, norms and recurrent
conv, the stage runners, the blocks and their conv1, and the stem): the
concat ``cat(x, h)``, conv1's h part, the RLA projection ``conv_out``, the h
update (add, norm, tanh), the recurrent 3x3 conv, the pooling of h, and the
parts RLA shares with a plain ResNet (stem, block body, shortcut). Times are
summed over ``--repeats`` profiled steps and reported per step. For training steps
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

import torch
from mmengine.config import DictAction
from torch.profiler import ProfilerActivity, profile

from rla_mm.analysis.build import build_backbone
from rla_mm.analysis.outputs import add_out_dir, output_path
from rla_mm.analysis.parts import PREFIX as LABEL_PREFIX
from rla_mm.analysis.parts import PartLabels, forward_parts
from rla_mm.analysis.steps import (BNModeMismatchError, check_bn_modes,
                                   make_inputs, make_step, prepare)
from rla_mm.engine.fileio import atomic_write_bytes

OUT_NAME = 'profile_rla.json'
RLA_PREFIX = 'RLA '


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
    add_out_dir(p, default=None, legacy=('--json', ),
                help_text=f'also write the results to DIR/{OUT_NAME}')
    args = p.parse_args(argv)
    if len(args.input_size) not in (1, 2):
        p.error('--input-size takes H or H W')
    if args.repeats < 1:
        p.error('--repeats must be >= 1')
    return args


def _profile(step, repeats: int):
    with profile(activities=[ProfilerActivity.CPU],
                 record_shapes=True) as prof:
        for _ in range(repeats):
            step()
    return prof


def _ops(items):
    """Ops and autograd nodes, without the part labels of PartLabels (their
    self time is the labelling hooks' own overhead)."""
    return [i for i in items if not i.key.startswith(LABEL_PREFIX)]


def by_name(prof, repeats: int) -> dict:
    """Self CPU ms per step per op / autograd node name."""
    out = collections.Counter()
    for item in _ops(prof.key_averages()):
        out[item.key] += item.self_cpu_time_total
    return {k: v / repeats / 1e3 for k, v in out.items()}


def top_ops(prof, n: int, repeats: int) -> list:
    items = sorted(_ops(prof.key_averages(group_by_input_shape=True)),
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
    try:
        labels = PartLabels(models['rla'])
    except ValueError as e:
        raise SystemExit(f'error: --backbone: {e}')
    profiles = {}
    for model in models.values():
        prepare(model, 'cpu', args.channels_last, train)
    if train and not args.allow_bn_mode_mismatch:
        try:
            check_bn_modes(models)
        except BNModeMismatchError as e:
            raise SystemExit(f'error: {e}')
    for name, model in models.items():
        inputs = make_inputs(model, args.batch_size, size, 'cpu',
                             args.channels_last, train)
        step = make_step(model, inputs, train, False, 'cpu')
        for _ in range(args.warmup):
            step()
        profiles[name] = _profile(step, args.repeats)
    labels.remove()
    totals = {n: sum(by_name(p, args.repeats).get(key, 0)
                     for key in by_name(p, args.repeats)
                     if key.startswith('aten::'))
              for n, p in profiles.items()}
    result = dict(args={k_: v for k_, v in vars(args).items()},
                  threads=torch.get_num_threads(),
                  parts=forward_parts(profiles['rla'], labels.rla_channel,
                                      args.repeats),
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
    out = output_path(args, OUT_NAME, legacy='json')
    if out:
        atomic_write_bytes(json.dumps(res, indent=2, default=str).encode(),
                           out)
        print(f'# results saved to {out}')
    return res


if __name__ == '__main__':
    main()
