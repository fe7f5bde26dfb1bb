"""The CSR-Conv paper's model sizes beside the exact counts of rla_mm's
configs.

Wu, Zhang, Zhang, Li, Zhou, Brinton, Liu, *Learning Lightweight Neural
Networks via Channel-Split Recurrent Convolution*, WACV 2023: Table 2
(parameters, rho_M, #C-C, T and top-1 error of every backbone and CSR
variant; CIFAR-10 and ImageNet) and Table 3 (the lightweight ImageNet
models "Ours-1/2/3"). Each row names the config that builds our model of it;
:func:`csr_paper_table` builds them with random weights and returns our
numel beside the paper's numbers, our rho_M against the row's baseline, and
whether our count rounds to the printed one and our rho_M to the printed
rho_M, which the paper rounds or truncates (``agrees``). The paper counts
conv and linear weights only for VGG-16 (Table 1) and every parameter for the
MobileNet-V2 rows (the authors' notebook prints numel); ``counted`` says
which of our two counts a row is held to.

Example:
    >>> rows = csr_paper_table(names=['MobileNet-V2 (ImageNet) CSR-Conv-2'])
    >>> rows[0]['params'], rows[0]['agrees']
    (2469080, True)
"""
import os.path as osp
from typing import List, NamedTuple, Optional, Sequence

__all__ = ['CSRPaperRow', 'CSR_PAPER_ROWS', 'csr_paper_table',
           'format_csr_paper_table']

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class CSRPaperRow(NamedTuple):
    """One printed row and the rla_mm config of its model."""
    name: str
    table: str
    params_m: float  # as printed (M, 2 decimals in Table 2, 1 in Table 3)
    rho_m: Optional[float]  # %, Table 2 only
    num_csr: Optional[int]  # #C-C (modules; blocks for MobileNet-V2)
    steps: Optional[int]  # T
    top1_err: float
    config: str
    baseline: Optional[str] = None  # the row whose model rho_M is against
    counted: str = 'params'  # 'params' (numel) or 'weights' (dim > 1)


_SUFFIX = dict(cifar10='_1xb128_cifar10.py', in1k='_8xb32_in1k.py')
# Table 2 per backbone: dataset, then per printed row (i: 0 = the backbone,
# else CSR-Conv-i; params in M; rho_M in %; #C-C; T; top-1 error; config
# configs/csr_conv/<stem><suffix>); rows without a config are left out
_TABLE2 = {
    'VGG-16': ('cifar10', (0, 14.98, 0.0, 0, 1, 6.04, 'vgg16'),
               (4, 2.02, 86.5, 9, 5, 6.35, 'csr-vgg16-conv4')),
    'ResNet-56': ('cifar10', (0, 0.85, 0.0, 0, 1, 6.74, 'resnet56'),
                  (1, 0.66, 21.8, 4, 2, 6.12, 'csr-resnet56-t2-last4')),
    'ResNet-110': ('cifar10', (0, 1.74, 0.0, 0, 1, 6.50, 'resnet110'),
                   (2, 1.11, 36.4, 14, 2, 5.55, 'csr-resnet110-t2-last14')),
    'DenseNet-40': ('cifar10', (0, 1.06, 0.0, 0, 1, 5.19, 'densenet40'),
                    *[(i, *row, f'csr-densenet40-conv{i}')
                      for i, row in enumerate(
                          [(0.89, 15.9, 19, 2, 5.19),
                           (0.69, 35.2, 11, 3, 5.13),
                           (0.53, 50.3, 22, 3, 5.09),
                           (0.38, 63.7, 23, 4, 6.01),
                           (0.19, 82.4, 34, 5, 8.30)], 1)]),
    'MobileNet-V2 (CIFAR-10)': (
        'cifar10', (0, 2.24, 0.0, 0, 1, 5.53, 'mobilenet-v2'),
        *[(i, *row, f'csr-mobilenet-v2-conv{i}') for i, row in enumerate(
            [(1.65, 26.4, 4, 3, 5.21), (1.47, 34.3, 7, 3, 5.08),
             (1.25, 44.1, 17, 3, 5.37), (1.09, 51.4, 18, 3, 5.84),
             (0.95, 57.3, 18, 4, 6.10)], 1)]),
    'ResNet-50': ('in1k', (1, 16.43, 35.7, 10, 3, 23.51,
                           'csr-resnet50-t3-last10')),
    'EfficientNet-B0': (
        'in1k', (0, 5.28, 0.0, 0, 1, 22.90, 'efficientnet-b0'),
        (1, 4.28, 18.9, 3, 3, 22.34, 'csr-efficientnet-b0-conv1'),
        (2, 3.89, 26.3, 4, 5, 27.59, 'csr-efficientnet-b0-conv2')),
    'MobileNet-V2 (ImageNet)': (
        'in1k', (0, 3.50, 0.0, 0, 1, 27.80, 'mobilenet-v2'),
        (1, 3.01, 14.0, 2, 4, 27.65, 'csr-mobilenet-v2-conv1'),
        (2, 2.47, 29.5, 12, 4, 29.45, 'csr-mobilenet-v2-conv2')),
}
# Table 3: the lightweight ImageNet networks (1 decimal, no rho_M)
_TABLE3 = {'Ours-1 (MobileNet-V2)': (2.5, 29.5, 'csr-mobilenet-v2-conv2'),
           'Ours-2 (MobileNet-V2)': (3.0, 27.7, 'csr-mobilenet-v2-conv1'),
           'Ours-3 (Efficient-B0)': (4.3, 22.3, 'csr-efficientnet-b0-conv1')}


def _paper_rows() -> List[CSRPaperRow]:
    rows = []
    for family, (dataset, *printed) in _TABLE2.items():
        has_base = printed[0][0] == 0
        for i, params, rho, num, steps, err, stem in printed:
            rows.append(CSRPaperRow(
                family if i == 0 else f'{family} CSR-Conv-{i}', 'Table 2',
                params, rho, num, steps, err,
                f'configs/csr_conv/{stem}{_SUFFIX[dataset]}',
                family if i and has_base else None,
                'weights' if family == 'VGG-16' else 'params'))
    for name, (params, err, stem) in _TABLE3.items():
        rows.append(CSRPaperRow(name, 'Table 3', params, None, None, None,
                                err, f'configs/csr_conv/{stem}_8xb32_in1k.py'))
    return rows


CSR_PAPER_ROWS: List[CSRPaperRow] = _paper_rows()


def _count(path: str) -> dict:
    from ..models.layers import count_csr_convs
    from .build import build_from_config
    model = build_from_config(path)
    params = list(model.parameters())
    return dict(params=sum(p.numel() for p in params),
                weights=sum(p.numel() for p in params if p.dim() > 1),
                num_csr_convs=count_csr_convs(model))


def _digits(row: CSRPaperRow) -> int:
    return 1 if row.table == 'Table 3' else 2


def _printed_as(value: float, printed: float, digits: int) -> bool:
    """``value`` rounds or truncates to ``printed`` at ``digits``."""
    return round(value, digits) == printed or \
        printed <= value < printed + 10**-digits


def csr_paper_table(names: Optional[Sequence[str]] = None,
                    repo_root: str = REPO_ROOT) -> List[dict]:
    """Build the config of every row (or of the rows ``names``) and return
    one dict per row: the paper's numbers (``paper_*``; ``paper_top1`` =
    100 - error), ours (``params``, ``weights``, ``num_csr_convs``: the
    CSR-Conv layers, ``rho_m``: % fewer than the baseline row's model, in
    the row's ``counted`` unit), and ``agrees``: our count rounds to the
    printed one and our rho_M (where both exist) to the printed rho_M."""
    rows = [r for r in CSR_PAPER_ROWS if names is None or r.name in names]
    if names is not None and len(rows) != len(set(names)):
        known = [r.name for r in CSR_PAPER_ROWS]
        raise ValueError(f'unknown rows {sorted(set(names) - set(known))}; '
                         f'rows: {known}')
    by_name = {r.name: r for r in CSR_PAPER_ROWS}
    cache = {}
    for row in rows + [by_name[r.baseline] for r in rows if r.baseline]:
        if row.config not in cache:
            cache[row.config] = _count(osp.join(repo_root, row.config))
    out = []
    for row in rows:
        ours = cache[row.config]
        count = ours[row.counted]
        rho = None
        if row.baseline:
            base = cache[by_name[row.baseline].config][row.counted]
            rho = 100 * (1 - count / base)
        # the paper rounds or truncates (EfficientNet-B0's 5,288,548: 5.28M;
        # 2,469,080: 29.553% -> 29.5%)
        agrees = _printed_as(count / 1e6, row.params_m, _digits(row))
        if rho is not None and row.rho_m is not None:
            agrees &= _printed_as(rho, row.rho_m, 1)
        out.append(dict(
            name=row.name, table=row.table, config=row.config,
            counted=row.counted, paper_params_m=row.params_m,
            paper_rho_m=row.rho_m, paper_num_csr=row.num_csr,
            paper_steps=row.steps, paper_top1=round(100 - row.top1_err, 2),
            paper_digits=_digits(row), **ours,
            rho_m=None if rho is None else round(rho, 2), agrees=agrees))
    return out


def format_csr_paper_table(rows: List[dict]) -> str:
    """The rows of :func:`csr_paper_table` as a Markdown table."""
    lines = ['| row | paper params | ours | agrees | paper rho_M | ours | '
             '#C-C | CSR layers | T | config |',
             '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: '
             '| --- |']
    for r in rows:
        paper_rho = '' if r['paper_rho_m'] is None else f"{r['paper_rho_m']}%"
        rho = '' if r['rho_m'] is None else f"{r['rho_m']:.2f}%"
        unit = ' weights' if r['counted'] == 'weights' else ''
        lines.append(
            f"| {r['table']} {r['name']} | "
            f"{r['paper_params_m']:.{r['paper_digits']}f}M | "
            f"{r[r['counted']]:,}{unit} | {'yes' if r['agrees'] else 'no'} | "
            f"{paper_rho} | {rho} | {r['paper_num_csr'] or ''} | "
            f"{r['num_csr_convs']} | {r['paper_steps'] or ''} | "
            f"`{r['config']}` |")
    return '\n'.join(lines)
