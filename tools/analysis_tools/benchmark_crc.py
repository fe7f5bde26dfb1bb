"""CRC (RecNets Eq. 3): batched fast path vs the plain per-step loop, and the
peak memory of the merged Recurrent module (Eq. 6-7) vs the plain one.

Retsinas, Elafrou, Goumas, Maragos, *RecNets: Channel-wise Recurrent
Convolutional Neural Networks*, BMVC 2019, arXiv:1905.11910.

Part 1, speed. For every CRC shape, forward + backward (``out.sum()``, input
and weight gradients) of ``rla_mm``'s ``CRC`` (the d input terms as ONE
convolution, only the recurrent term looping) and of
``rla_mm.testing.reference_crc.crc_reference`` (the per-step loop straight
from Eq. 3) on the same weights and input. Outputs and gradients are checked
to be equal first. Then every round times one step of each (order
alternating), after warm-up rounds; the table gives medians, the ratio of the
medians (loop / fast, > 1 = the fast path is faster) and the median of the
per-round ratios. ``input share`` is the input term's share of the layer's
convolution FLOPs, S_in k_x^2 / (S_in k_x^2 + S_out k_h^2 (d-1)/d): by
Amdahl's law, batching the input term alone cannot make the layer faster
than 1 / (1 - share) unless it also cuts per-call overhead (``bound``).

Part 2, memory. A Recurrent module (CRC + transition block) computed plainly
(the e C_in-wide CRC output and batched input term are materialised) and
merged (Eq. 7: sum_i h_i * A_i accumulated step by step), same weights:
outputs checked equal, then the peak of live tensor storages allocated during
an inference forward (eval, no_grad: what Sec. 2.3 is about) and during a
training forward + backward (``rla_mm.analysis.memory.StoragePeakTracker``).

Examples (run from the repository root)::

    # the default shapes: the paper's CRC(160 -> 640, d=10) and the CRCs of
    # RecNet(4,8,16,32,10,10,10), batch 16, one thread, CPU-time clock
    python tools/analysis_tools/benchmark_crc.py

    # a quick run with other shapes (C_in:e:d:size); the results also go to
    # work_dirs/benchmark_crc/benchmark_crc.json
    python tools/analysis_tools/benchmark_crc.py --shapes 80:1:10:16 \\
        --batch-size 4 --repeats 5 --warmup 1 --out-dir work_dirs/benchmark_crc
"""
import argparse
import json
import os.path as osp
import statistics
import warnings

import torch

from rla_mm.analysis.memory import StoragePeakTracker
from rla_mm.analysis.timing import StepTimer, time_interleaved
from rla_mm.engine.fileio import atomic_write_bytes
from rla_mm.models.layers import CRC, RecurrentModule
from rla_mm.testing.reference_crc import crc_reference

#: The file written into ``--out-dir``.
RESULT_FILE = 'benchmark_crc.json'

# C_in : e : d : H (=W). The paper's example layer (Sec. 2.1.1) and the three
# CRC widths of RecNet(4,8,16,32,10,10,10) at their resolutions (Table 1).
DEFAULT_SHAPES = ('160:4:10:16', '80:4:10:32', '320:4:10:8')


def parse_shape(text: str):
    try:
        c_in, e, d, size = (int(v) for v in text.split(':'))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'shape {text!r} must be C_in:e:d:size, e.g. 160:4:10:16')
    if min(c_in, e, d, size) < 1 or c_in % d:
        raise argparse.ArgumentTypeError(
            f'shape {text!r}: values must be >= 1 and d must divide C_in')
    return c_in, e, d, size


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='CRC fast path vs per-step loop; merged Recurrent '
        'module memory',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('Examples', 1)[1])
    p.add_argument('--shapes', nargs='+', type=parse_shape,
                   default=[parse_shape(s) for s in DEFAULT_SHAPES],
                   metavar='C_in:e:d:size')
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--threads', type=int, default=1,
                   help='torch.set_num_threads (default 1)')
    p.add_argument('--warmup', type=int, default=2, help='untimed rounds')
    p.add_argument('--repeats', type=int, default=15, help='timed rounds')
    p.add_argument('--timer', choices=['wall', 'cpu'], default='cpu',
                   help='cpu (default) = this process\'s CPU time, robust to '
                   'other processes on a shared machine (single thread)')
    p.add_argument('--skip-memory', action='store_true')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out-dir', metavar='DIR',
                   help=f'also write the results to DIR/{RESULT_FILE}')
    p.add_argument('--json', metavar='FILE',
                   help='deprecated: use --out-dir (writes the results to '
                   'FILE)')
    args = p.parse_args(argv)
    if args.batch_size < 1 or args.repeats < 1 or args.warmup < 0 \
            or args.threads < 1:
        p.error('--batch-size, --repeats, --threads must be >= 1, '
                '--warmup >= 0')
    if args.json and args.out_dir:
        p.error('give --out-dir only (--json is its deprecated form)')
    if args.json:
        warnings.warn('--json FILE is deprecated, use --out-dir DIR',
                      FutureWarning, stacklevel=2)
    return args


def result_path(args):
    """Where the JSON record goes: ``DIR/benchmark_crc.json`` for
    ``--out-dir DIR``, the file itself for the deprecated ``--json``, or
    None."""
    if args.out_dir:
        return osp.join(args.out_dir, RESULT_FILE)
    return args.json


def _fwd_bwd(fn, x, crc):
    def step():
        x.grad = None
        for p in crc.parameters():
            p.grad = None
        fn(x).sum().backward()
    return step


def _grads(fn, x, crc):
    _fwd_bwd(fn, x, crc)()
    return [x.grad.clone()] + [p.grad.clone() for p in crc.parameters()]


def check_equal(crc, x) -> float:
    """Largest |fast - loop| over output and all gradients (float64)."""
    crc64, x64 = crc.double(), x.detach().double().requires_grad_()
    worst = (crc64(x64) - crc_reference(x64, crc64)).abs().max().item()
    fast = _grads(crc64, x64, crc64)
    loop = _grads(lambda t: crc_reference(t, crc64), x64, crc64)
    for a, b in zip(fast, loop):
        worst = max(worst, (a - b).abs().max().item())
    crc.float()
    if worst > 1e-9:
        raise RuntimeError(f'fast path and loop differ by {worst:g}')
    return worst


def input_share(crc) -> float:
    d = crc.num_steps
    x_cost = crc.seg_in * crc.kernel_size_x**2
    h_cost = crc.seg_out * crc.kernel_size_h**2 * (d - 1) / d
    return x_cost / (x_cost + h_cost)


def bench_speed(args) -> list:
    rows = []
    for c_in, e, d, size in args.shapes:
        crc = CRC(c_in, e * c_in, 3, num_steps=d)
        x = torch.randn(args.batch_size, c_in, size, size, requires_grad=True)
        max_diff = check_equal(crc, x)
        steps = dict(
            loop=_fwd_bwd(lambda t: crc_reference(t, crc), x, crc),
            fast=_fwd_bwd(crc, x, crc))
        times, _ = time_interleaved(steps, args.warmup, args.repeats,
                                    StepTimer('cpu', args.timer))
        share = input_share(crc)
        loop, fast = times['loop'], times['fast']
        rows.append(dict(
            shape=f'CRC({c_in}->{e * c_in}, d={d}) @{size}',
            loop_ms=statistics.median(loop) * 1e3,
            fast_ms=statistics.median(fast) * 1e3,
            ratio=statistics.median(loop) / statistics.median(fast),
            paired_ratio=statistics.median(
                [a / b for a, b in zip(loop, fast)]),
            input_share=share, amdahl_bound=1 / (1 - share),
            max_abs_diff=max_diff))
    return rows


def peak_bytes(step) -> int:
    with StoragePeakTracker() as tracker:
        step()
    return tracker.peak


def bench_memory(args) -> list:
    rows = []
    for c_in, e, d, size in args.shapes:
        plain = RecurrentModule(c_in, c_in, d, expansion=e)
        merged = RecurrentModule(c_in, c_in, d, expansion=e, merged=True)
        merged.load_state_dict(plain.state_dict())
        x = torch.randn(args.batch_size, c_in, size, size)
        plain.eval(), merged.eval()
        with torch.no_grad():
            diff = (plain(x) - merged(x)).abs().max().item()
        row = dict(shape=f'Rec({c_in}->{e * c_in}->{c_in}, d={d}) @{size}',
                   max_abs_diff=diff)
        for mode in ('infer', 'train'):
            for name, module in (('plain', plain), ('merged', merged)):
                module.train(mode == 'train')
                if mode == 'infer':
                    def step(m=module):
                        with torch.no_grad():
                            m(x)
                else:
                    def step(m=module):
                        m.zero_grad(set_to_none=True)
                        m(x).sum().backward()
                step()  # warm-up: lazily created state is not counted
                row[f'{mode}_{name}_MiB'] = peak_bytes(step) / 2**20
            row[f'{mode}_saving'] = 1 - row[f'{mode}_merged_MiB'] / \
                row[f'{mode}_plain_MiB']
        rows.append(row)
    return rows


def format_speed(rows) -> str:
    lines = [f"{'layer':34s} {'loop ms':>9s} {'fast ms':>9s} {'ratio':>6s} "
             f"{'paired':>6s} {'input share':>11s} {'bound':>6s} "
             f"{'|diff|':>8s}"]
    for r in rows:
        lines.append(
            f"{r['shape']:34s} {r['loop_ms']:9.1f} {r['fast_ms']:9.1f} "
            f"{r['ratio']:6.2f} {r['paired_ratio']:6.2f} "
            f"{r['input_share']:11.2f} {r['amdahl_bound']:6.2f} "
            f"{r['max_abs_diff']:8.1e}")
    return '\n'.join(lines)


def format_memory(rows) -> str:
    lines = [f"{'module':34s} {'mode':5s} {'plain MiB':>10s} "
             f"{'merged MiB':>10s} {'saving':>7s}"]
    for r in rows:
        for mode in ('infer', 'train'):
            lines.append(
                f"{r['shape']:34s} {mode:5s} {r[f'{mode}_plain_MiB']:10.1f} "
                f"{r[f'{mode}_merged_MiB']:10.1f} "
                f"{100 * r[f'{mode}_saving']:6.1f}%")
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}, {args.threads} thread(s), batch '
          f'{args.batch_size}, {args.repeats} rounds, {args.timer} clock')
    speed = bench_speed(args)
    print('\nforward + backward, CRC fast path vs per-step loop (Eq. 3)')
    print(format_speed(speed))
    result = dict(args=dict(vars(args), shapes=[list(s) for s in
                                                 args.shapes]),
                  torch=torch.__version__, speed=speed)
    if not args.skip_memory:
        memory = bench_memory(args)
        print('\npeak live tensor memory, Recurrent module plain vs merged '
              '(Eq. 6-7)')
        print(format_memory(memory))
        result['memory'] = memory
    path = result_path(args)
    if path:
        atomic_write_bytes(json.dumps(result, indent=2).encode(), path)
        print(f'\nresults written to {path}')
    return result


if __name__ == '__main__':
    main()
