"""Throughput of a model against a baseline measured in the same process.

Each model is a backbone dict (``--backbone``) or a whole detector/classifier
from a config (``--config``), built with random weights (init_cfg dropped: no
dataset, no pretrained file). Every round times one step of every model in
turn (the order rotates), after warm-up rounds; the table gives medians, the
ratio of medians to the baseline and the median of the per-round ratios (with
its interquartile range), which resists load that drifts during the run. On a
shared machine, ``--max-foreign-load`` discards the steps during which other
processes were busy (then the per-round pairs are formed by clean-step order).
Training steps are forward + backward (gradients freed before each step, no
optimizer update); the tool refuses to compare them when the baseline and a
model run their BatchNorms in different modes (mmdet's ``ResNet`` defaults to
``norm_eval=True``, frozen statistics, RLA-ResNet to False): a BN that
normalises with batch statistics costs more in both passes, so the ratio
would measure that instead of the architecture. ``--memory`` adds the peak
memory a training step allocates on top of what was allocated before it
(activations, gradients, temporaries).

Examples (run from the repository root)::

    # RLA-ResNet-50 vs mmdet's ResNet-50, batch 8 at 224, 2 threads, plus
    # RLA with split_conv1 and the authors' implementation (same weights)
    # (on CPU RLAResNet splits conv1, split_conv1='auto'; "cat" is the
    # concatenation path)
    python tools/analysis_tools/benchmark.py \\
        --backbone type=RLAResNet depth=50 \\
        --baseline-backbone type=mmdet.ResNet depth=50 norm_eval=False \\
        --variant "cat split_conv1=False" --authors \\
        --mode infer train --batch-size 8 --input-size 224 --threads 2

    # whole detectors at detection size
    python tools/analysis_tools/benchmark.py \\
        --config configs/faster_rcnn_rla_r50_fpn_1x_coco.py \\
        --baseline-config mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py \\
        --mode infer --batch-size 1 --input-size 800 1216

    # GPU: fp32 and AMP, channels-last
    python tools/analysis_tools/benchmark.py --device cuda --amp \\
        --channels-last --backbone type=RLAResNet depth=50 \\
        --baseline-backbone type=mmdet.ResNet depth=50 norm_eval=False \\
        --batch-size 64
"""
import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time

import torch
from mmengine.config import DictAction

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (AuthorsRLAForward, build_backbone,  # noqa: E402
                     build_from_config, check_bn_modes, find_backbone,
                     make_inputs, make_step, parse_kv_tokens, prepare)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Interleaved throughput of a model vs a baseline',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('Examples', 1)[1])
    src = p.add_argument_group('models (a config or a backbone dict each)')
    src.add_argument('--config', help='config of the model to measure')
    src.add_argument('--backbone', nargs='+', action=DictAction,
                     metavar='KEY=VALUE', help='backbone dict to measure')
    src.add_argument('--baseline-config', help='config of the baseline')
    src.add_argument('--baseline-backbone', nargs='+', action=DictAction,
                     metavar='KEY=VALUE', help='baseline backbone dict')
    src.add_argument('--cfg-options', nargs='+', action=DictAction,
                     help='override settings of --config')
    src.add_argument(
        '--variant', action='append', default=[], metavar='"NAME K=V ..."',
        help='also measure the model with these backbone arguments changed, '
        'e.g. "cat split_conv1=False" (repeatable)')
    src.add_argument(
        '--authors', action='store_true',
        help='also measure the authors\' RLA-ResNet forward (cat + in-place '
        'adds + AvgPool2d) on the same weights')
    run = p.add_argument_group('what and how')
    run.add_argument('--mode', nargs='+', default=['infer', 'train'],
                     choices=['infer', 'train'])
    run.add_argument('--batch-size', type=int, default=8)
    run.add_argument('--input-size', type=int, nargs='+', default=[224],
                     metavar='H [W]')
    run.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1...')
    run.add_argument('--threads', type=int,
                     help='torch.set_num_threads (CPU); default: unchanged')
    run.add_argument('--amp', action='store_true',
                     help='autocast: float16 on CUDA, bfloat16 on CPU')
    run.add_argument('--channels-last', action='store_true')
    run.add_argument('--compile', action='store_true',
                     help='torch.compile each backbone (inductor); the '
                     'compilation happens in the warm-up rounds')
    run.add_argument('--warmup', type=int, default=3,
                     help='untimed rounds first')
    run.add_argument('--repeats', type=int, default=20, help='timed rounds')
    run.add_argument('--memory', action='store_true',
                     help='measure peak training-step memory too')
    run.add_argument('--timer', choices=['wall', 'cpu'], default='wall',
                     help='cpu = this process\'s CPU time, a proxy that '
                     'ignores time stolen by other processes (single thread)')
    run.add_argument(
        '--max-foreign-load', type=float, metavar='CORES',
        help='discard a step while other processes kept more than CORES '
        'cores busy on average (Linux /proc/stat), and time more rounds; '
        'for shared machines')
    run.add_argument('--max-rounds', type=int,
                     help='give up after this many rounds (default: warm-up '
                     '+ 5 x repeats with --max-foreign-load)')
    run.add_argument(
        '--allow-bn-mode-mismatch', action='store_true',
        help='time training steps even if the models run their BatchNorms '
        'in different modes (norm_eval)')
    run.add_argument('--seed', type=int, default=0)
    run.add_argument('--json', help='also write the results to this file')
    args = p.parse_args(argv)
    if (args.config is None) == (args.backbone is None):
        p.error('give exactly one of --config / --backbone')
    if args.baseline_config and args.baseline_backbone:
        p.error('give at most one of --baseline-config / --baseline-backbone')
    if len(args.input_size) not in (1, 2):
        p.error('--input-size takes H or H W')
    if args.batch_size < 1 or args.repeats < 1 or args.warmup < 0:
        p.error('--batch-size and --repeats must be >= 1, --warmup >= 0')
    if args.compile and args.warmup < 1:
        p.error('--compile needs --warmup >= 1 (the first call compiles)')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        p.error(f'--device {args.device}: CUDA is not available here')
    return args


def _default_baseline(args) -> dict:
    """The plain counterpart when none is given: mmdet's ResNet, with the
    model's ``norm_eval`` (RLAResNet's default False, not mmdet's True)."""
    backbone = args.backbone or {}
    return dict(type='mmdet.ResNet', depth=backbone.get('depth', 50),
                norm_eval=backbone.get('norm_eval', False))


def build_models(args) -> dict:
    """name -> nn.Module, the baseline first."""
    models = {}
    if args.baseline_config:
        models['baseline'] = build_from_config(args.baseline_config)
    elif args.baseline_backbone or args.backbone is not None:
        models['baseline'] = build_backbone(args.baseline_backbone
                                            or _default_baseline(args))
    if args.config:
        main = build_from_config(args.config, args.cfg_options)
    else:
        main = build_backbone(args.backbone)
    models['model'] = main
    for spec in args.variant:
        name, *tokens = spec.split()
        overrides = parse_kv_tokens(tokens)
        if args.config:
            opts = dict(args.cfg_options or {})
            opts.update({f'model.backbone.{k}': v
                         for k, v in overrides.items()})
            variant = build_from_config(args.config, opts)
        else:
            variant = build_backbone({**args.backbone, **overrides})
        variant.load_state_dict(main.state_dict())
        models[name] = variant
    if args.authors:
        port = copy.deepcopy(main)
        AuthorsRLAForward.install(find_backbone(port))
        models['authors'] = port
    return models


def _compiled(model):
    """The model with its backbone (or itself, if a backbone) compiled."""
    if hasattr(model, 'backbone'):
        if not hasattr(model.backbone, '_orig_mod'):  # not compiled yet
            model.backbone = torch.compile(model.backbone)
        return model
    return torch.compile(model)


class _Timer:

    def __init__(self, device: str, kind: str):
        self.cuda = device.startswith('cuda')
        self.clock = time.process_time if kind == 'cpu' else time.perf_counter

    def __call__(self, fn) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        t = self.clock()
        fn()
        if self.cuda:
            torch.cuda.synchronize()
        return self.clock() - t


def _foreign_cpu() -> 'callable':
    """A probe returning the CPU seconds that *other* processes used since
    the previous call (Linux: /proc/stat minus this process's own time)."""
    hz = os.sysconf('SC_CLK_TCK')

    def busy() -> float:
        with open('/proc/stat') as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / hz

    def own() -> float:
        t = os.times()
        return t.user + t.system

    last = [busy(), own()]

    def probe() -> float:
        now = [busy(), own()]
        foreign = (now[0] - last[0]) - (now[1] - last[1])
        last[:] = now
        return max(foreign, 0.0)

    return probe


def time_interleaved(steps: dict, warmup: int, repeats: int, timer: _Timer,
                     max_foreign: float = None, max_rounds: int = None):
    """(name -> list of step times, name -> number of discarded steps).

    Round r starts at model r % n. With ``max_foreign`` (cores), a step
    during which other processes kept more than that many cores busy on
    average is discarded, and rounds go on until every model has
    ``repeats`` clean steps or ``max_rounds`` rounds were run."""
    from mmengine.utils import ProgressBar
    names = list(steps)
    times = {n: [] for n in names}
    dropped = {n: 0 for n in names}
    probe = _foreign_cpu() if max_foreign is not None else None
    max_rounds = max_rounds or (warmup + repeats if probe is None
                                else warmup + 5 * repeats)
    bar = ProgressBar(len(names) * repeats, file=sys.stderr)
    for r in range(max_rounds):
        if r >= warmup and all(len(t) >= repeats for t in times.values()):
            break
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            if probe is not None:
                probe()
            dt = timer(steps[name])
            if r < warmup or len(times[name]) >= repeats:
                continue
            if probe is not None and probe() > max_foreign * dt:
                dropped[name] += 1
                continue
            times[name].append(dt)
            bar.update()
    sys.stderr.write('\n')
    short = [n for n in names if not times[n]]
    if short:
        raise RuntimeError(f'no clean step for {short} in {max_rounds} '
                           'rounds: raise --max-foreign-load or run later')
    return times, dropped


def peak_step_memory(step, device: str) -> int:
    """Bytes a training step allocates at its peak beyond what was allocated
    before it (CUDA: the allocator's peak; CPU: live tensor storages)."""
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    from _memory import StoragePeakTracker
    with StoragePeakTracker() as tracker:
        step()
    return tracker.peak


def _quartiles(values):
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def summarize(times: dict, batch: int) -> list:
    rows, base = [], times.get('baseline')
    for name, ts in times.items():
        med = statistics.median(ts)
        q1, q3 = _quartiles(ts)
        row = dict(model=name, median_ms=med * 1e3, q1_ms=q1 * 1e3,
                   q3_ms=q3 * 1e3, images_per_s=batch / med, times_s=ts)
        if base is not None:
            paired = [t / b for t, b in zip(ts, base)]
            row['ratio'] = med / statistics.median(base)
            row['paired_ratio'] = statistics.median(paired)
            row['paired_q1'], row['paired_q3'] = _quartiles(paired)
        rows.append(row)
    return rows


def environment(args) -> dict:
    env = dict(torch=torch.__version__, python=platform.python_version(),
               device=args.device, threads=torch.get_num_threads(),
               amp=args.amp, channels_last=args.channels_last,
               compile=args.compile,
               batch_size=args.batch_size, input_size=args.input_size,
               timer=args.timer)
    if args.device.startswith('cuda'):
        env['device_name'] = torch.cuda.get_device_name(args.device)
    else:
        env['device_name'] = _cpu_name()
    return env


def _cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'cpu'


def format_table(mode: str, rows: list, memory: dict = None) -> str:
    head = ['model', 'mode', 'median ms', 'IQR ms', 'img/s', 'ratio',
            'paired ratio [IQR]']
    if memory:
        head += ['train peak MiB', 'mem ratio']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    base_mem = (memory or {}).get('baseline')
    for r in rows:
        cells = [r['model'], mode, f"{r['median_ms']:.1f}",
                 f"{r['q1_ms']:.1f}-{r['q3_ms']:.1f}",
                 f"{r['images_per_s']:.2f}"]
        if 'ratio' in r:
            cells += [f"{r['ratio']:.3f}x",
                      f"{r['paired_ratio']:.3f}x [{r['paired_q1']:.3f}-"
                      f"{r['paired_q3']:.3f}]"]
        else:
            cells += ['', '']
        if memory:
            mib = memory[r['model']] / 2**20
            cells.append(f'{mib:.1f}')
            cells.append(f"{memory[r['model']] / base_mem:.3f}x"
                         if base_mem else '')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True
    size = args.input_size * 2 if len(args.input_size) == 1 \
        else args.input_size
    torch.manual_seed(args.seed)
    models = build_models(args)
    env = environment(args)
    env['load_avg_start'] = os.getloadavg()[0]
    print('# ' + ', '.join(f'{k}={v}' for k, v in env.items()), flush=True)
    results = dict(env=env, args=vars(args), modes={})
    for mode in args.mode:
        train = mode == 'train'
        steps, memory = {}, {}
        for name, model in models.items():
            model = prepare(model, args.device, args.channels_last, train)
            if args.compile:
                model = _compiled(model)
            inputs = make_inputs(model, args.batch_size, size, args.device,
                                 args.channels_last, train)
            steps[name] = make_step(model, inputs, train, args.amp,
                                    args.device, args.seed)
        if train and not args.allow_bn_mode_mismatch:
            check_bn_modes(models)
        print(f'# {mode}: {args.warmup} warm-up + {args.repeats} timed '
              f'rounds of {len(steps)} models', file=sys.stderr, flush=True)
        times, dropped = time_interleaved(
            steps, args.warmup, args.repeats, _Timer(args.device, args.timer),
            args.max_foreign_load, args.max_rounds)
        if train and args.memory:
            memory = {n: peak_step_memory(s, args.device)
                      for n, s in steps.items()}
        rows = summarize(times, args.batch_size)
        results['modes'][mode] = dict(rows=rows, peak_memory_bytes=memory,
                                      discarded_steps=dropped)
        print(format_table(mode, rows, memory), flush=True)
        if args.max_foreign_load is not None:
            print(f'# {mode}: steps discarded because other processes used '
                  f'more than {args.max_foreign_load} cores: {dropped}',
                  flush=True)
    env['load_avg_end'] = os.getloadavg()[0]
    print(f"# load average (1 min): start {env['load_avg_start']:.2f}, "
          f"end {env['load_avg_end']:.2f}", flush=True)
    if args.json:
        from rla_mm.utils import atomic_write_bytes
        atomic_write_bytes(
            json.dumps(results, indent=2, default=str).encode(), args.json)
    return results


if __name__ == '__main__':
    main()
