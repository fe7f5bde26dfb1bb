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
(activations, gradients, temporaries). ``--authors`` adds the authors'
RLA-ResNet forward (``rla_mm.testing.authors_rlanet``, the project's one port
of it) loaded with the model's weights. ``--out-dir DIR`` saves everything as
``DIR/benchmark.json``. ``--runtime onnxruntime`` exports every backbone to
ONNX (``rla_mm.analysis.onnx_runtime``: opset 17, dynamic axes, as
``tests/test_models/test_deploy.py`` checks it) and times
``InferenceSession.run`` on ONNX Runtime's CPU provider with ``--threads``
intra-op threads; ``--compile`` times ``torch.compile`` (inductor) instead of
eager PyTorch. The table's mode column and the JSON's ``env.runtime`` say
which.

Examples (run from the repository root)::

    # RLA-ResNet-50 vs mmdet's ResNet-50, batch 8 at 224, 2 threads, plus
    # RLA with split_conv1 and the authors' implementation (same weights)
    # (on CPU RLAResNet splits conv1, split_conv1='auto'; "cat" is the
    # concatenation path)
    python tools/analysis_tools/benchmark.py \\
        --backbone type=RLAResNet depth=50 \\
        --baseline-backbone type=mmdet.ResNet depth=50 norm_eval=False \\
        --variant "cat split_conv1=False" --authors \\
        --mode infer train --batch-size 8 --input-size 224 --threads 2 \\
        --out-dir work_dirs/speed/cpu_backbone

    # the same backbones under ONNX Runtime and under torch.compile
    python tools/analysis_tools/benchmark.py --runtime onnxruntime \
        --backbone type=RLAResNet depth=50 \
        --baseline-backbone type=mmdet.ResNet depth=50 norm_eval=False \
        --mode infer --batch-size 8 --input-size 224 --threads 2
    python tools/analysis_tools/benchmark.py --compile \
        --backbone type=RLAResNet depth=50 \
        --baseline-backbone type=mmdet.ResNet depth=50 norm_eval=False \
        --mode infer --batch-size 8 --input-size 224 --threads 2

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
import sys

import torch
from mmengine.config import DictAction

from rla_mm.analysis.authors import AuthorsRLAResNet
from rla_mm.analysis.build import (build_backbone, build_from_config,
                                   find_backbone, parse_kv_tokens)
from rla_mm.analysis.memory import peak_step_memory
from rla_mm.analysis.onnx_runtime import export_onnx, make_session, ort_step
from rla_mm.analysis.outputs import add_out_dir, output_path
from rla_mm.analysis.steps import (BNModeMismatchError, check_bn_modes,
                                   make_inputs, make_step, prepare)
from rla_mm.analysis.timing import StepTimer, summarize, time_interleaved
from rla_mm.engine.fileio import atomic_write_bytes

OUT_NAME = 'benchmark.json'
RUNTIMES = ('pytorch', 'onnxruntime')


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
        '--other', action='append', default=[], metavar='"NAME K=V ..."',
        help='also measure another backbone, built from this dict with its '
        'own (random) weights, e.g. "mrla type=MRLAResNet depth=50" '
        '(repeatable): one run for a table of several architectures')
    src.add_argument(
        '--authors', action='store_true',
        help='also measure the authors\' RLA-ResNet forward (cat + in-place '
        'adds + AvgPool2d) on the same weights (RLAResNet models with the '
        'authors\' structure)')
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
    run.add_argument('--runtime', choices=RUNTIMES, default='pytorch',
                     help='pytorch (eager, or with --compile), or '
                     'onnxruntime: export each backbone to ONNX and time '
                     'InferenceSession.run (CPU, inference, --threads)')
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
    add_out_dir(run, default=None, legacy=('--json', ),
                help_text=f'also write the results to DIR/{OUT_NAME}')
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
    if args.runtime == 'onnxruntime':
        clash = [flag for flag, on in (
            ('--config (whole detectors)', args.config is not None),
            ('--mode train', 'train' in args.mode), ('--compile',
                                                      args.compile),
            ('--amp', args.amp), ('--channels-last', args.channels_last),
            ('--authors', args.authors), ('--memory', args.memory),
            (f'--device {args.device}', args.device != 'cpu')) if on]
        if clash:
            p.error(f'--runtime onnxruntime times exported backbones on the '
                    f'CPU, in inference: drop {", ".join(clash)}')
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
    for spec in args.other:
        name, *tokens = spec.split()
        models[name] = build_backbone(parse_kv_tokens(tokens))
    if args.authors:
        models['authors'] = with_authors_forward(main)
    return models


def with_authors_forward(model):
    """A copy of ``model`` whose (RLAResNet) backbone runs the authors'
    forward on the same weights."""
    try:
        port = AuthorsRLAResNet(find_backbone(model))
    except ValueError as e:
        raise SystemExit(f'error: --authors: {e}')
    if hasattr(model, 'backbone'):
        model = copy.deepcopy(model)
        model.backbone = port
        return model
    return port


def _compiled(model):
    """The model with its backbone (or itself, if a backbone) compiled."""
    if hasattr(model, 'backbone'):
        if not hasattr(model.backbone, '_orig_mod'):  # not compiled yet
            model.backbone = torch.compile(model.backbone)
        return model
    return torch.compile(model)


def environment(args) -> dict:
    env = dict(torch=torch.__version__, python=platform.python_version(),
               runtime=args.runtime + ('+compile' if args.compile else ''),
               device=args.device, threads=torch.get_num_threads(),
               amp=args.amp, channels_last=args.channels_last,
               compile=args.compile,
               batch_size=args.batch_size, input_size=args.input_size,
               timer=args.timer)
    if args.runtime == 'onnxruntime':
        import onnxruntime
        env['onnxruntime'] = onnxruntime.__version__
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
            if args.runtime == 'onnxruntime':
                steps[name] = ort_step(make_session(
                    export_onnx(model, (1, 3, *size)), args.threads),
                    inputs[0])
            else:
                steps[name] = make_step(model, inputs, train, args.amp,
                                        args.device, args.seed)
        if train and not args.allow_bn_mode_mismatch:
            try:
                check_bn_modes(models)
            except BNModeMismatchError as e:
                raise SystemExit(f'error: {e}')
        print(f'# {mode}: {args.warmup} warm-up + {args.repeats} timed '
              f'rounds of {len(steps)} models', file=sys.stderr, flush=True)
        times, dropped = time_interleaved(
            steps, args.warmup, args.repeats,
            StepTimer(args.device, args.timer),
            args.max_foreign_load, args.max_rounds)
        if train and args.memory:
            memory = {n: peak_step_memory(s, args.device)
                      for n, s in steps.items()}
        rows = summarize(times, args.batch_size)
        results['modes'][mode] = dict(rows=rows, peak_memory_bytes=memory,
                                      discarded_steps=dropped)
        label = mode if env['runtime'] == 'pytorch' \
            else f"{mode} ({env['runtime']})"
        print(format_table(label, rows, memory), flush=True)
        if args.max_foreign_load is not None:
            print(f'# {mode}: steps discarded because other processes used '
                  f'more than {args.max_foreign_load} cores: {dropped}',
                  flush=True)
    env['load_avg_end'] = os.getloadavg()[0]
    print(f"# load average (1 min): start {env['load_avg_start']:.2f}, "
          f"end {env['load_avg_end']:.2f}", flush=True)
    out = output_path(args, OUT_NAME, legacy='json')
    if out:
        atomic_write_bytes(
            json.dumps(results, indent=2, default=str).encode(), out)
        print(f'# results saved to {out}', flush=True)
    return results


if __name__ == '__main__':
    main()
