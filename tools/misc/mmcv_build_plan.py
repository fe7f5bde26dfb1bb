"""Decide how tools/setup_env.sh builds mmcv's ops: CPU-only or with CUDA.

mmcv 2.1.0 has no wheel for rla_mm's torch, so setup_env.sh compiles it from
source; whether the compiled ops include the CUDA kernels (``FORCE_CUDA=1``)
is decided here, from what the machine has:

===============================  ==========================================
machine                          plan
===============================  ==========================================
a GPU visible, CUDA torch, nvcc  ``cuda`` for the visible GPUs' archs
a GPU visible, anything missing  stop with one line naming what is missing
no GPU, ``TORCH_CUDA_ARCH_LIST``  ``cuda`` for those archs (a GPU-less build
set, CUDA torch, nvcc            host such as ``docker build``)
no GPU otherwise                 ``cpu`` (nvcc alone does not turn a CPU
                                 machine into a CUDA build: compiling every
                                 arch takes hours and nothing would run it)
===============================  ==========================================

``RLA_MM_MMCV_OPS=cpu|cuda`` overrides ``auto`` (``cpu``: CPU ops on purpose,
also on a GPU machine; ``cuda``: stop if they cannot be built).

The plan is printed as shell assignments for ``eval`` (exit 0), or one line on
stderr and exit status 2 when a GPU is visible but CUDA ops cannot be built.
The mmcv wheel cache key records the plan: ``py311-torch2.14.1+cu130-cpu`` or
``py311-torch2.14.1+cu130-cuda13.0-sm90``; ``MMCV_LEGACY_KEY`` is the key of
the releases before the plan existed (CPU wheels found there are reused).

Detection can be overridden for tests only (never set them otherwise):
``RLA_MM_FAKE_GPUS`` (comma-separated compute capabilities of the visible
GPUs, e.g. ``9.0,9.0``; empty for none), ``RLA_MM_FAKE_TORCH_CUDA`` (torch's
CUDA version, ``none`` for a CPU-only torch), ``RLA_MM_FAKE_NVCC`` (nvcc's
CUDA version, ``none`` for no nvcc).

Usage::

    python tools/misc/mmcv_build_plan.py                 # the plan
    python tools/misc/mmcv_build_plan.py --wheel-flavour mmcv-2.1.0-....whl
    python tools/misc/mmcv_build_plan.py --adopt-legacy OLD_DIR NEW_DIR
"""
import argparse
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys
import warnings
import zipfile

OPS_CHOICES = ('auto', 'cpu', 'cuda')
# DT_NEEDED entries that only a CUDA build of mmcv's _ext links against
CUDA_LIBS = (b'libcudart', b'libc10_cuda.so', b'libtorch_cuda.so')


class PlanError(Exception):
    """The plan cannot be carried out; the message is the one line shown."""


def _run(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def detect_gpus():
    """Compute capabilities (``'9.0'``, ...) of the visible NVIDIA GPUs."""
    fake = os.environ.get('RLA_MM_FAKE_GPUS')
    if fake is not None:
        return [c.strip() for c in fake.split(',') if c.strip()]
    if shutil.which('nvidia-smi'):
        out = _run(['nvidia-smi', '--query-gpu=compute_cap',
                    '--format=csv,noheader'])
        if out is not None:
            return [c.strip() for c in out.splitlines() if c.strip()]
    try:
        import torch
        return [
            '{}.{}'.format(*torch.cuda.get_device_capability(i))
            for i in range(torch.cuda.device_count())
        ]
    except Exception:  # no driver, CPU-only torch: no visible GPU
        return []


def detect_torch():
    """``(torch.__version__, torch.version.cuda or None)``."""
    import torch
    cuda = torch.version.cuda
    fake = os.environ.get('RLA_MM_FAKE_TORCH_CUDA')
    if fake is not None:
        cuda = None if fake == 'none' else fake
    return torch.__version__, cuda


def detect_nvcc():
    """``(nvcc's CUDA version or None, CUDA_HOME or None)``."""
    home = os.environ.get('CUDA_HOME') or os.environ.get('CUDA_PATH')
    fake = os.environ.get('RLA_MM_FAKE_NVCC')
    if fake is not None:
        if fake == 'none':
            return None, None
        return fake, home or '/usr/local/cuda'
    nvcc = osp.join(home, 'bin', 'nvcc') if home else shutil.which('nvcc')
    if not nvcc or not os.access(nvcc, os.X_OK):
        return None, None
    out = _run([nvcc, '--version']) or ''
    match = re.search(r'release (\d+\.\d+)', out)
    if not match:
        return None, None
    if not home:  # <home>/bin/nvcc, through any wrapper symlink
        home = osp.dirname(osp.dirname(osp.realpath(nvcc)))
    return match.group(1), home


def _arch_tag(archs):
    """``'8.0;9.0+PTX'`` / ``['9.0']`` -> ``'sm80_90+PTX'``."""
    if isinstance(archs, str):
        archs = re.split(r'[;, ]+', archs.strip())
    parts = sorted({a.replace('.', '') for a in archs if a})
    return 'sm' + '_'.join(parts)


def make_plan(requested, gpus, torch_version, torch_cuda, nvcc, cuda_home,
              arch_list, python=sys.version_info):
    """The build plan as a dict of shell variables (see the module doc).

    Args:
        requested (str): ``RLA_MM_MMCV_OPS``: 'auto', 'cpu' or 'cuda'.
        gpus (list[str]): compute capabilities of the visible GPUs.
        torch_version (str): ``torch.__version__``.
        torch_cuda (str | None): ``torch.version.cuda``.
        nvcc (str | None): nvcc's CUDA version, None without nvcc.
        cuda_home (str | None): the CUDA toolkit nvcc belongs to.
        arch_list (str): ``TORCH_CUDA_ARCH_LIST`` ('' when unset).

    Example:
        >>> make_plan('auto', [], '2.14.1', None, None, None, '',
        ...           python=(3, 11))['MMCV_CACHE_KEY']
        'py311-torch2.14.1-cpu'
    """
    if requested not in OPS_CHOICES:
        raise PlanError(f'RLA_MM_MMCV_OPS must be one of {OPS_CHOICES}, got '
                        f'{requested!r}')
    legacy = f'py{python[0]}{python[1]}-torch{torch_version}'
    plan = dict(MMCV_LEGACY_KEY=legacy)
    wants_cuda = requested == 'cuda' or (requested == 'auto' and (
        gpus or (arch_list and torch_cuda and nvcc)))
    if not wants_cuda:
        if requested == 'cpu':
            why = 'RLA_MM_MMCV_OPS=cpu'
        elif nvcc and torch_cuda:
            why = (f'nvcc {nvcc} found but no GPU visible; set '
                   'TORCH_CUDA_ARCH_LIST (or RLA_MM_MMCV_OPS=cuda) to build '
                   'CUDA ops for another machine')
        else:
            why = 'no GPU visible'
        plan.update(MMCV_OPS='cpu', MMCV_CACHE_KEY=f'{legacy}-cpu',
                    MMCV_PLAN_REASON=why)
        return plan
    seen = (f'{len(gpus)} GPU(s) visible' if gpus else
            'CUDA ops requested' if requested == 'cuda' else
            f'TORCH_CUDA_ARCH_LIST={arch_list}')
    escape = ' (or set RLA_MM_MMCV_OPS=cpu to build CPU-only ops on purpose)'
    if not torch_cuda:
        raise PlanError(
            f'{seen} but mmcv CUDA ops cannot be built: torch {torch_version} '
            'is a CPU-only build; install a CUDA build of torch '
            f'(requirements/pinned.txt){escape}')
    if not nvcc:
        raise PlanError(
            f'{seen} but mmcv CUDA ops cannot be built: no nvcc (CUDA_HOME '
            f'unset, nvcc not on PATH); install the CUDA {torch_cuda} toolkit '
            f'and set CUDA_HOME{escape}')
    if nvcc.split('.')[0] != torch_cuda.split('.')[0]:
        raise PlanError(
            f'{seen} but mmcv CUDA ops cannot be built: nvcc is CUDA {nvcc}, '
            f'torch was built with CUDA {torch_cuda}; point CUDA_HOME at a '
            f'CUDA {torch_cuda.split(".")[0]}.x toolkit{escape}')
    archs = arch_list or ';'.join(sorted(set(gpus)))
    if not archs:
        raise PlanError(
            'RLA_MM_MMCV_OPS=cuda without a visible GPU needs the target '
            "archs: set TORCH_CUDA_ARCH_LIST (e.g. '8.0;9.0')")
    plan.update(
        MMCV_OPS='cuda',
        MMCV_CACHE_KEY=f'{legacy}-cuda{nvcc}-{_arch_tag(archs)}',
        CUDA_HOME=cuda_home,
        TORCH_CUDA_ARCH_LIST=archs,
        MMCV_PLAN_REASON=f'{seen}, torch CUDA {torch_cuda}, nvcc {nvcc}')
    return plan


def wheel_flavour(path):
    """'cuda' if the wheel's compiled ops link the CUDA runtime, else 'cpu'."""
    with zipfile.ZipFile(path) as whl:
        exts = [n for n in whl.namelist()
                if re.fullmatch(r'mmcv/_ext[^/]*\.(so|pyd)', n)]
        if not exts:
            raise PlanError(f'{path}: no compiled mmcv/_ext module in the '
                            'wheel (built without MMCV_WITH_OPS=1?)')
        data = whl.read(exts[0])
    return 'cuda' if any(lib in data for lib in CUDA_LIBS) else 'cpu'


def _wheels(folder):
    if not osp.isdir(folder):
        return []
    return sorted(f for f in os.listdir(folder)
                  if f.startswith('mmcv-') and f.endswith('.whl'))


def adopt_legacy_wheel(legacy_dir, wheel_dir):
    """Move a CPU wheel cached under the key of earlier releases (no
    cpu/cuda part) to ``wheel_dir``; CUDA or unreadable ones stay where they
    are. Returns the message to log, or None when nothing moved."""
    old = _wheels(legacy_dir)
    if _wheels(wheel_dir) or not old:
        return None
    try:
        if wheel_flavour(osp.join(legacy_dir, old[0])) != 'cpu':
            return None
    except (PlanError, OSError, zipfile.BadZipFile):
        return None
    if osp.isdir(wheel_dir):
        os.rmdir(wheel_dir)  # empty: it holds no wheel
    os.rename(legacy_dir, wheel_dir)  # one directory, one atomic step
    return f'moved the CPU mmcv wheel cached in {legacy_dir} to {wheel_dir}'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--wheel-flavour', metavar='WHEEL',
                        help="print 'cpu' or 'cuda' for a built mmcv wheel")
    parser.add_argument('--adopt-legacy', nargs=2,
                        metavar=('LEGACY_DIR', 'WHEEL_DIR'),
                        help='move a CPU wheel of the old cache key to the '
                        'new one')
    args = parser.parse_args(argv)
    warnings.simplefilter('ignore')  # torch's driver warnings: one line only
    try:
        if args.wheel_flavour:
            print(wheel_flavour(args.wheel_flavour))
            return 0
        if args.adopt_legacy:
            message = adopt_legacy_wheel(*args.adopt_legacy)
            if message:
                print(f'[setup_env] {message}', file=sys.stderr)
            return 0
        try:
            torch_version, torch_cuda = detect_torch()
        except ImportError:
            raise PlanError(f'torch is not installed in {sys.executable}')
        nvcc, cuda_home = detect_nvcc()
        plan = make_plan(
            os.environ.get('RLA_MM_MMCV_OPS') or 'auto', detect_gpus(),
            torch_version, torch_cuda, nvcc, cuda_home,
            os.environ.get('TORCH_CUDA_ARCH_LIST', ''))
    except (PlanError, OSError, zipfile.BadZipFile) as err:
        print(f'[setup_env] error: {err}', file=sys.stderr)
        return 2
    for key, value in plan.items():
        print(f'{key}={shlex.quote(str(value))}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
