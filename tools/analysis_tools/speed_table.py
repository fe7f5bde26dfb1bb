"""One table of RLA's speed where users deploy it: eager PyTorch,
``torch.compile`` and ONNX Runtime, for each RLA network against its own
baseline (docs/speed.md).

Every cell is one ``benchmark.py`` process (the command is printed and saved
with the numbers): the network and its baseline timed in interleaved rounds,
medians, inference of batch ``--batch-size`` at ``--input-size``. The pairs
are RLA-ResNet-50 / ResNet-50, RLA-ECANet-50 / ECANet-50 (rla_mm's
``WidenedResNet`` with no widening and the same ECA kernels: a plain
ECA-ResNet), MRLA-light ResNet-50 / ResNet-50 and RLA-MobileNetV2 /
mmpretrain's MobileNetV2. ``--device cuda`` times eager and compile in fp32
and, with ``--amp``, float16 autocast (ONNX Runtime is CPU only here).

Examples (run from the repository root)::

    python tools/analysis_tools/speed_table.py --threads 2 \\
        --out-dir work_dirs/speed/table
    python tools/analysis_tools/speed_table.py --pairs rla50 \\
        --runtimes eager onnxruntime --repeats 5
    # a CUDA machine: fp32 and AMP, eager and compile
    python tools/analysis_tools/speed_table.py --device cuda \\
        --batch-size 64 --runtimes eager compile --amp both
"""
import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile

from rla_mm.analysis.outputs import add_out_dir, output_path
from rla_mm.engine.fileio import atomic_write_bytes

OUT_NAME = 'speed_table.json'
BENCHMARK = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         'benchmark.py')
#: name -> (label, model backbone tokens, baseline tokens)
PAIRS = {
    'rla50': ('RLA-ResNet-50 / ResNet-50',
              ['type=RLAResNet', 'depth=50'],
              ['type=mmdet.ResNet', 'depth=50', 'norm_eval=False']),
    'rla_eca50': ('RLA-ECANet-50 / ECANet-50',
                  ['type=RLAECAResNet', 'depth=50'],
                  ['type=WidenedResNet', 'depth=50', 'extra_channels=0',
                   'eca_kernel_sizes=(5,5,5,7)']),
    'mrla50': ('MRLA-light ResNet-50 / ResNet-50',
               ['type=MRLAResNet', 'depth=50'],
               ['type=mmdet.ResNet', 'depth=50', 'norm_eval=False']),
    'rla_mbv2': ('RLA-MobileNetV2 / MobileNetV2',
                 ['type=RLAMobileNetV2', 'out_indices=(7,)'],
                 ['type=mmpretrain.MobileNetV2', 'out_indices=(7,)']),
}
RUNTIMES = {'eager': [], 'compile': ['--compile'],
            'onnxruntime': ['--runtime', 'onnxruntime']}


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Eager / compile / ONNX Runtime ratios of RLA networks',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('Examples', 1)[1])
    p.add_argument('--pairs', nargs='+', choices=PAIRS, default=list(PAIRS))
    p.add_argument('--runtimes', nargs='+', choices=RUNTIMES,
                   default=list(RUNTIMES))
    p.add_argument('--device', default='cpu')
    p.add_argument('--amp', choices=['off', 'on', 'both'], default='off',
                   help='CUDA: float16 autocast (both: a column each)')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--input-size', type=int, default=224)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--repeats', type=int, default=9)
    p.add_argument('--max-foreign-load', type=float,
                   help='passed to benchmark.py (shared machines)')
    add_out_dir(p, default=None,
                help_text=f'write DIR/{OUT_NAME} (numbers and commands)')
    args = p.parse_args(argv)
    if args.device != 'cpu' and 'onnxruntime' in args.runtimes:
        p.error('--runtimes onnxruntime runs on the CPU: drop it for '
                f'--device {args.device}')
    return args


def cell_command(args, pair: str, runtime: str, amp: bool,
                 out_dir: str) -> list:
    """The benchmark.py command line of one cell."""
    _, model, baseline = PAIRS[pair]
    cmd = [sys.executable, BENCHMARK, '--backbone', *model,
           '--baseline-backbone', *baseline, '--mode', 'infer',
           '--batch-size', str(args.batch_size), '--input-size',
           str(args.input_size), '--threads', str(args.threads),
           '--device', args.device, '--warmup', str(args.warmup),
           '--repeats', str(args.repeats), *RUNTIMES[runtime],
           '--out-dir', out_dir]
    if amp:
        cmd.append('--amp')
    if args.max_foreign_load is not None:
        cmd += ['--max-foreign-load', str(args.max_foreign_load)]
    return cmd


def run_cell(cmd: list) -> dict:
    """Run one benchmark.py process; its rows keyed by model name."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        return dict(error=' '.join(tail) or f'exit {proc.returncode}')
    out_dir = cmd[cmd.index('--out-dir') + 1]
    with open(os.path.join(out_dir, 'benchmark.json')) as f:
        rows = json.load(f)['modes']['infer']['rows']
    return {r['model']: {k: r[k] for k in ('median_ms', 'ratio',
                                            'paired_ratio') if k in r}
            for r in rows}


def main(argv=None):
    args = parse_args(argv)
    amps = {'off': [False], 'on': [True], 'both': [False, True]}[args.amp]
    columns = [(rt, amp) for rt in args.runtimes for amp in amps
               if not (amp and rt == 'onnxruntime')]
    cells = {}
    with tempfile.TemporaryDirectory() as tmp:
        for pair in args.pairs:
            for runtime, amp in columns:
                key = f'{pair}/{runtime}' + ('/amp' if amp else '')
                cmd = cell_command(args, pair, runtime, amp,
                                   os.path.join(tmp, key.replace('/', '_')))
                shown = ' '.join(shlex.quote(c) for c in [
                    'python', os.path.relpath(BENCHMARK)] + cmd[2:-2])
                print(f'# {shown}', flush=True)
                cells[key] = dict(command=shown, **run_cell(cmd))
    head = ['pair'] + [f"{rt}{' AMP' if amp else ''} baseline ms, ratio"
                       for rt, amp in columns]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for pair in args.pairs:
        row = [PAIRS[pair][0]]
        for runtime, amp in columns:
            cell = cells[f'{pair}/{runtime}' + ('/amp' if amp else '')]
            if 'error' in cell:
                row.append(f"failed: {cell['error'][:60]}")
            else:
                row.append(f"{cell['baseline']['median_ms']:.1f} ms, "
                           f"**{cell['model']['ratio']:.3f}x** "
                           f"({cell['model']['paired_ratio']:.3f}x)")
        lines.append('| ' + ' | '.join(row) + ' |')
    date = datetime.date.today().isoformat()
    print(f'\n# {date}; ratio = model median / baseline median (paired: '
          'median of per-round ratios)')
    print('\n'.join(lines))
    out = output_path(args, OUT_NAME)
    if out:
        atomic_write_bytes(json.dumps(dict(date=date, args=vars(args),
                                           cells=cells), indent=2).encode(),
                           out)
        print(f'# results saved to {out}')
    return cells


if __name__ == '__main__':
    main()
