"""Refuse to train with an mmcv built without CUDA ops on a GPU machine.

mmcv compiles its ops (RoIAlign, NMS, DCN, ...) for the CPU only unless it
is built with ``FORCE_CUDA=1`` or sees a GPU while building; such an mmcv on
a GPU machine fails inside mmdet's heads with "not compiled with GPU
support" after minutes of setup, or never uses the GPU for them. The tools
check this first and stop with one line that says how to rebuild.
"""
import os
import sys
from typing import Optional

from .errors import UserInputError

#: tools/setup_env.sh's override: CPU ops on purpose, also with a GPU.
OPS_ENV = 'RLA_MM_MMCV_OPS'
REMEDY = ('rebuild it with CUDA ops: `rm -f .venv/.rla_mm_installed && '
          'bash tools/setup_env.sh` (it builds them when a GPU, CUDA torch '
          'and nvcc are there), hide the GPUs with CUDA_VISIBLE_DEVICES=, '
          f'or set {OPS_ENV}=cpu to run mmcv\'s ops on the CPU on purpose')


def mmcv_cuda_ops_problem(num_gpus: int,
                          mmcv_cuda: Optional[str],
                          mmcv_version: str = '?',
                          ops_choice: str = 'auto') -> Optional[str]:
    """The one-line problem, or None when the installation fits.

    Args:
        num_gpus: GPUs torch can use (0 on a CPU machine or a CPU torch).
        mmcv_cuda: the CUDA version mmcv's ops were compiled with, None
            for CPU-only ops (or no compiled ops at all).
        mmcv_version: for the message.
        ops_choice: the ``RLA_MM_MMCV_OPS`` setting ('auto', 'cpu', 'cuda').
    """
    if num_gpus == 0 or mmcv_cuda is not None or ops_choice == 'cpu':
        return None
    return (f'mmcv {mmcv_version} was built without CUDA ops, but torch sees '
            f'{num_gpus} GPU(s): {REMEDY}')


def installed_mmcv_cuda() -> Optional[str]:
    """CUDA version of the installed mmcv's ops; None if CPU-only/none."""
    try:
        from mmcv.ops import get_compiling_cuda_version
        version = get_compiling_cuda_version()
    except (ImportError, AttributeError, RuntimeError):
        return None
    return None if version in (None, '', 'not available') else str(version)


def check_mmcv_cuda_ops() -> None:
    """Raise :class:`UserInputError` with :func:`mmcv_cuda_ops_problem`'s
    line for this machine (mmcv's ops are imported only if a GPU is seen).
    """
    import torch
    num_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if num_gpus == 0:
        return
    import mmcv
    problem = mmcv_cuda_ops_problem(num_gpus, installed_mmcv_cuda(),
                                    mmcv.__version__,
                                    os.environ.get(OPS_ENV, 'auto'))
    if problem:
        raise UserInputError(problem)


def exit_if_mmcv_lacks_cuda_ops() -> None:
    """For the tools, at import: :func:`check_mmcv_cuda_ops`, its refusal
    as one ``error: ...`` line on stderr and exit status 1."""
    try:
        check_mmcv_cuda_ops()
    except UserInputError as e:
        sys.exit(f'error: {e}')
