"""The RLA paper's cost tables beside rla_mm's counts, in the paper's units.

RLA paper (Zhao, Fang and Li, *Recurrence along Depth: Deep Convolutional
Neural Networks with Recurrent Layer Aggregation*, NeurIPS 2021,
arXiv:2110.11852): Table 3 (ImageNet models), Table 11 (the ablation study
on ResNet-50, Sec. 4.4) and Table 15 (shared vs unshared RLA), as printed,
are in ``rla_paper_tables.yml`` beside this file. Table 10 (the RLA-ResNet
architectures) repeats Table 3's models; its cells are lost in our copy of
the text. Each row names the rla_mm config that builds the model;
:func:`count_rows` counts it with :func:`~rla_mm.analysis.paper_units.
paper_units` (numel / 2^20, thop MACs / 2^30 at 224x224, as the authors'
``paras_flops.py`` printed them) and says whether our count rounds to the
paper's printed digits. Rows whose model the authors' code does not define
(MRLA-light, from another paper; the ECA baselines, derived) are not held to
that.

Example:
    >>> [r.name for r in TABLES['Table 11']][:2]
    ['ResNet-50', '(a) channel +32']
"""
import os
import sys
from typing import Dict, List, NamedTuple, Optional

__all__ = ['PaperRow', 'TABLES', 'DERIVED', 'count_rows']

TABLES_FILE = os.path.join(os.path.dirname(__file__), 'rla_paper_tables.yml')


class PaperRow(NamedTuple):
    """One row as printed (strings keep the printed digits; None: not
    printed, or lost in our copy of the text) and the config of the rla_mm
    model."""
    name: str
    params_m: Optional[str]
    gflops: Optional[str]
    top1_err: Optional[str]
    source: str
    authors_model: bool = True  # defined by the RLA authors' code
    note: str = ''


def _load_tables() -> Dict[str, List[PaperRow]]:
    import yaml
    with open(TABLES_FILE) as f:
        data = yaml.safe_load(f)
    notes = data.pop('notes')
    return {
        title: [PaperRow(**dict(row, note=notes.get(row.get('note'), '')))
                for row in rows]
        for title, rows in data.items()
    }


TABLES = _load_tables()
# A derived baseline X = RLA-X - (RLA-model - plain model): rla_mm has no
# plain ECA network, and counts are additive over modules.
DERIVED = {
    'RLA-ECANet-50': ('RLA-ResNet-50', 'ResNet-50'),
    'RLA-ECANet-101': ('RLA-ResNet-101', 'ResNet-101'),
    'RLA-ECA-MobileNetV2': ('RLA-MobileNetV2', 'MobileNetV2'),
}
_KEYS = ('params', 'macs', 'zero_state_macs')
#: The rows that later rows' deltas refer to.
_BASELINES = ('ResNet-50', 'ResNet-101', 'ResNet-152', 'ECANet-50',
              'ECANet-101', 'MobileNetV2', 'ECA-MobileNetV2')


def _value(text: Optional[str]) -> Optional[float]:
    return None if text is None else float(text)


def _agrees(printed: Optional[str], ours: Optional[float]) -> Optional[bool]:
    """Whether ``ours`` rounds to ``printed`` at its printed digits."""
    if printed is None or ours is None:
        return None
    digits = len(printed.split('.')[1]) if '.' in printed else 0
    return f'{ours:.{digits}f}' == printed


def _count_sources(rows: List[PaperRow], repo_root: str, cache: dict):
    from .build import build_from_config
    from .paper_units import paper_units
    for row in rows:
        if row.source.startswith('derived:') or row.source in cache:
            continue
        path = row.source if '::' in row.source \
            else os.path.join(repo_root, row.source)
        try:
            cache[row.source] = {
                k: v for k, v in paper_units(build_from_config(path)).items()
                if k in _KEYS}
        except (FileNotFoundError, KeyError, ImportError) as e:
            print(f'# {row.name}: not counted ({type(e).__name__}: {e})',
                  file=sys.stderr)
    counts = {r.name: cache.get(r.source) for r in rows}
    for rla_ext, (rla, plain) in DERIVED.items():
        derived = next((r for r in rows if r.source == f'derived:{rla_ext}'),
                       None)
        if derived and all(counts.get(n) for n in (rla_ext, rla, plain)):
            counts[derived.name] = {
                k: counts[rla_ext][k] - counts[rla][k] + counts[plain][k]
                for k in _KEYS}
    return counts


def count_rows(rows: List[PaperRow], repo_root: str,
               cache: Optional[dict] = None) -> List[dict]:
    """Count every row's model (``cache``: config -> counts, shared between
    tables); returns one dict per row with the paper's and our numbers, the
    deltas to the table's last baseline, ``agrees`` (FLOPs and parameters
    round to the printed digits; None where the paper printed nothing or the
    model is not the authors') and ``params_agree`` (the parameters alone)."""
    from .paper_units import GIGA, MEGA
    counts = _count_sources(rows, repo_root, {} if cache is None else cache)
    out, base = [], None
    for row in rows:
        ours = counts.get(row.name) or {}
        err = _value(row.top1_err)
        d = dict(model=row.name, source=row.source, note=row.note,
                 paper_params_m=_value(row.params_m),
                 paper_gflops=_value(row.gflops),
                 paper_top1=None if err is None else round(100 - err, 2),
                 params=ours.get('params'), macs=ours.get('macs'),
                 zero_state_macs=ours.get('zero_state_macs'),
                 params_m=ours['params'] / MEGA if ours else None,
                 gflops=ours['macs'] / GIGA if ours else None)
        params_ok = _agrees(row.params_m, d['params_m'])
        checks = [c for c in (params_ok, _agrees(row.gflops, d['gflops']))
                  if c is not None]
        d['agrees'] = all(checks) if checks and row.authors_model else None
        d['params_agree'] = params_ok if row.authors_model else None
        if row.name in _BASELINES:
            base = d
        elif base is not None and base['params'] and d['params']:
            d['dparams_m'] = d['params_m'] - base['params_m']
            d['dgflops'] = d['gflops'] - base['gflops']
            if row.params_m is not None and base['paper_params_m']:
                d['paper_dparams_m'] = d['paper_params_m'] - \
                    base['paper_params_m']
                d['paper_dgflops'] = d['paper_gflops'] - base['paper_gflops']
        out.append(d)
    return out
