"""Plot training curves (loss, mAP / accuracy) of runs beside a baseline run.

    python tools/analysis_tools/plot_curves.py WORK_DIR [WORK_DIR ...] [--baseline BASELINE_DIR] [--keys loss coco/bbox_mAP] [--out-dir DIR]

Reads what mmengine's ``LocalVisBackend`` writes in a work dir:
``WORK_DIR/<timestamp>/vis_data/scalars.json``, one JSON object per line.
Training lines (they have ``iter``) are plotted against the iteration
(``step``), validation lines against their ``step`` (the epoch for
epoch-based loops). A resumed run has several timestamp folders: they are read
in order and a later value for the same step replaces an earlier one.

Default keys: ``loss`` and every validation metric ending in ``mAP`` or
``top1`` (``coco/bbox_mAP``, ``coco/segm_mAP``, ``accuracy/top1``). The
baseline run is drawn dashed in black. The figure goes to
``DIR/curves.png`` (default DIR: outputs), written to a temp file and renamed
into place; ``--out FILE.png`` still works (deprecated).
"""
import argparse
import glob
import io
import json
import os.path as osp
import re
import sys

from rla_mm.analysis.outputs import add_out_dir, output_path
from rla_mm.engine.fileio import atomic_write_bytes

OUT_NAME = 'curves.png'

DEFAULT_VAL_KEY = re.compile(r'(mAP|top1)$')
NOT_METRICS = {'step', 'epoch', 'iter', 'time', 'data_time', 'memory'}


class InputError(Exception):
    """A work dir or key that cannot be plotted."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Plot loss and mAP curves of runs beside a baseline')
    parser.add_argument(
        'work_dirs', nargs='+', help='work dirs of the runs (mmengine logs)')
    parser.add_argument('--baseline', help='work dir of the baseline run')
    parser.add_argument(
        '--labels',
        nargs='+',
        help='legend labels of WORK_DIRs (default: folder names)')
    parser.add_argument(
        '--baseline-label', default=None,
        help='legend label of the baseline (default: its folder name)')
    parser.add_argument(
        '--keys',
        nargs='+',
        help='scalars to plot (default: loss and the *mAP / *top1 metrics)')
    add_out_dir(parser, legacy=('--out', ),
                help_text=f'folder of {OUT_NAME}')
    return parser.parse_args(argv)


def scalar_files(work_dir):
    """``scalars.json`` files of a work dir, oldest run first."""
    if osp.isfile(work_dir) and work_dir.endswith('.json'):
        return [work_dir]
    if not osp.isdir(work_dir):
        raise InputError(f'work dir not found: {work_dir}')
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        raise InputError(
            f'no training logs in {work_dir}: expected '
            f'{osp.join(work_dir, "<timestamp>", "vis_data", "scalars.json")}'
            ' (written by mmengine during training)')
    return files


def load_run(work_dir):
    """Return ``{'train': {key: {step: value}}, 'val': {...}}``."""
    run = {'train': {}, 'val': {}}
    for path in scalar_files(work_dir):
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    # mmengine appends line by line: a run killed mid-write
                    # leaves one partial last line, which is skipped
                    continue
                if 'step' not in entry:
                    continue
                part = run['train' if 'iter' in entry else 'val']
                for key, value in entry.items():
                    if key in NOT_METRICS or not isinstance(
                            value, (int, float)):
                        continue
                    part.setdefault(key, {})[entry['step']] = float(value)
    if not run['train'] and not run['val']:
        raise InputError(f'the logs in {work_dir} hold no scalars')
    return run


def default_keys(runs):
    keys = []
    if any('loss' in r['train'] for r in runs):
        keys.append('loss')
    val = sorted({k for r in runs for k in r['val']
                  if DEFAULT_VAL_KEY.search(k)})
    return keys + val


def series(run, key):
    """``(x, y, 'train' | 'val')`` of ``key`` in ``run``, or None."""
    for part in ('train', 'val'):
        if key in run[part]:
            points = sorted(run[part][key].items())
            return [p[0] for p in points], [p[1] for p in points], part
    return None


def plot(runs, labels, keys, out, baseline=None, baseline_label=None):
    """Draw one panel per key; ``runs``/``baseline`` from :func:`load_run`."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    everything = runs + ([baseline] if baseline else [])
    for key in keys:
        if not any(series(r, key) for r in everything):
            available = sorted({k for r in everything for p in r.values()
                                for k in p})
            raise InputError(f'key {key!r} is in none of the logs; '
                             f'available: {available}')
    fig, axes = plt.subplots(
        1, len(keys), figsize=(4.6 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        part = None
        for run, label in zip(runs, labels):
            s = series(run, key)
            if s:
                ax.plot(s[0], s[1], marker='o' if s[2] == 'val' else None,
                        ms=3, lw=1.2, label=label)
                part = s[2]
        if baseline:
            s = series(baseline, key)
            if s:
                ax.plot(s[0], s[1], 'k--', marker='o' if s[2] == 'val'
                        else None, ms=3, lw=1.2, label=baseline_label)
                part = part or s[2]
        ax.set_title(key, fontsize=10)
        ax.set_xlabel('iteration' if part == 'train' else
                      'validation step (epoch)')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, dpi=110, format='png')
    finally:
        plt.close(fig)
    atomic_write_bytes(buf.getvalue(), out)
    return out


def last_values(run, keys):
    out = {}
    for key in keys:
        s = series(run, key)
        if s:
            out[key] = s[1][-1]
    return out


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.labels and len(args.labels) != len(args.work_dirs):
            raise InputError(f'--labels needs one label per work dir '
                             f'({len(args.work_dirs)}), got '
                             f'{len(args.labels)}')
        runs = [load_run(d) for d in args.work_dirs]
        baseline = load_run(args.baseline) if args.baseline else None
        labels = args.labels or [
            osp.basename(osp.normpath(d)) for d in args.work_dirs]
        baseline_label = args.baseline_label or (
            osp.basename(osp.normpath(args.baseline)) + ' (baseline)'
            if args.baseline else None)
        keys = args.keys or default_keys(runs + [baseline] if baseline
                                         else runs)
        if not keys:
            raise InputError('no loss or *mAP / *top1 metric in the logs; '
                             'name the scalars with --keys')
        out = output_path(args, OUT_NAME, legacy='out')
        plot(runs, labels, keys, out, baseline, baseline_label)
    except InputError as e:
        sys.exit(f'error: {e}')
    for run, label in zip(runs + ([baseline] if baseline else []),
                          labels + ([baseline_label] if baseline else [])):
        values = ', '.join(f'{k} {v:.4g}'
                           for k, v in last_values(run, keys).items())
        print(f'{label}: last {values}')
    print(f'curves: {out}')
    return out


if __name__ == '__main__':
    main()
