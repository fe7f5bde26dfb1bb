"""tools/setup_env.sh's mmcv build decision (tools/misc/mmcv_build_plan.py):
CUDA ops when a GPU is visible (or target archs are named) and torch has
CUDA and nvcc is found, CPU ops otherwise, one line and exit status 2 when a
GPU is visible but CUDA ops cannot be built; the wheel cache key records
cpu / cuda version + archs. Driven through the scripts with the detection
faked by the test-only RLA_MM_FAKE_* variables (no GPU needed)."""
import glob
import importlib.util
import os
import os.path as osp
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO_ROOT

PLANNER = osp.join(REPO_ROOT, 'tools', 'misc', 'mmcv_build_plan.py')
SETUP = osp.join(REPO_ROOT, 'tools', 'setup_env.sh')
NO_KNOBS = ('RLA_MM_MMCV_OPS', 'TORCH_CUDA_ARCH_LIST', 'CUDA_HOME',
            'CUDA_PATH', 'RLA_MM_FAKE_GPUS', 'RLA_MM_FAKE_TORCH_CUDA',
            'RLA_MM_FAKE_NVCC')


def _env(**fake):
    env = {k: v for k, v in os.environ.items() if k not in NO_KNOBS}
    env.update(fake)
    return env


def _load_planner():
    spec = importlib.util.spec_from_file_location('mmcv_build_plan', PLANNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


planner = _load_planner()


def _main(monkeypatch, capsys, *argv, **fake):
    """Run the planner's CLI in this process under the faked environment;
    returns (exit status, stdout, stderr)."""
    for key in NO_KNOBS:
        monkeypatch.delenv(key, raising=False)
    for key, value in fake.items():
        monkeypatch.setenv(key, value)
    code = planner.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _shell_vars(stdout):
    """The plan as bash sees it after ``eval``."""
    script = stdout + '\nfor v in MMCV_OPS MMCV_CACHE_KEY MMCV_LEGACY_KEY ' \
        'CUDA_HOME TORCH_CUDA_ARCH_LIST; do printf "%s=%s\\n" $v "${!v-}"; ' \
        'done'
    out = subprocess.run(['bash', '-c', script], capture_output=True,
                         text=True, check=True, env=_env())
    return dict(line.split('=', 1) for line in out.stdout.splitlines())


def _torch_key():
    import torch
    return (f'py{sys.version_info[0]}{sys.version_info[1]}-'
            f'torch{torch.__version__}')


GPU_MACHINE = dict(RLA_MM_FAKE_GPUS='9.0', RLA_MM_FAKE_TORCH_CUDA='12.1',
                   RLA_MM_FAKE_NVCC='12.1', CUDA_HOME='/opt/cuda-12.1')


@pytest.mark.parametrize('fake,ops,suffix', [
    (dict(RLA_MM_FAKE_GPUS='', RLA_MM_FAKE_TORCH_CUDA='none',
          RLA_MM_FAKE_NVCC='none'), 'cpu', '-cpu'),
    # nvcc without a GPU (this kind of CPU box, CI): CPU ops, no compile of
    # every CUDA arch
    (dict(RLA_MM_FAKE_GPUS='', RLA_MM_FAKE_TORCH_CUDA='12.1',
          RLA_MM_FAKE_NVCC='12.1'), 'cpu', '-cpu'),
    (GPU_MACHINE, 'cuda', '-cuda12.1-sm90'),
    (dict(GPU_MACHINE, RLA_MM_FAKE_GPUS='9.0,8.0,9.0'), 'cuda',
     '-cuda12.1-sm80_90'),
    (dict(GPU_MACHINE, RLA_MM_FAKE_NVCC='12.4'), 'cuda', '-cuda12.4-sm90'),
    # a GPU-less build host that names its target archs (docker build)
    (dict(GPU_MACHINE, RLA_MM_FAKE_GPUS='', TORCH_CUDA_ARCH_LIST='8.0;9.0'),
     'cuda', '-cuda12.1-sm80_90'),
    (dict(GPU_MACHINE, RLA_MM_MMCV_OPS='cpu'), 'cpu', '-cpu'),
])
def test_plan(monkeypatch, capsys, fake, ops, suffix):
    code, stdout, stderr = _main(monkeypatch, capsys, **fake)
    assert code == 0, stderr
    plan = _shell_vars(stdout)
    assert plan['MMCV_OPS'] == ops
    assert plan['MMCV_CACHE_KEY'] == _torch_key() + suffix
    # the key of the releases before the plan: CPU wheels cached there
    assert plan['MMCV_LEGACY_KEY'] == _torch_key()
    if ops == 'cuda':
        assert plan['CUDA_HOME'] == '/opt/cuda-12.1'
        assert plan['TORCH_CUDA_ARCH_LIST'] == fake.get(
            'TORCH_CUDA_ARCH_LIST', '8.0;9.0' if ',' in fake[
                'RLA_MM_FAKE_GPUS'] else '9.0')
    else:
        assert plan['CUDA_HOME'] == '' and plan['TORCH_CUDA_ARCH_LIST'] == ''


@pytest.mark.parametrize('fake,reason', [
    (dict(GPU_MACHINE, RLA_MM_FAKE_TORCH_CUDA='none'), 'CPU-only build'),
    (dict(GPU_MACHINE, RLA_MM_FAKE_NVCC='none'), 'no nvcc'),
    (dict(GPU_MACHINE, RLA_MM_FAKE_NVCC='11.8'), 'torch was built with CUDA'),
    (dict(GPU_MACHINE, RLA_MM_FAKE_GPUS='', RLA_MM_MMCV_OPS='cuda'),
     'set TORCH_CUDA_ARCH_LIST'),
    (dict(RLA_MM_FAKE_GPUS='', RLA_MM_FAKE_TORCH_CUDA='none',
          RLA_MM_FAKE_NVCC='none', RLA_MM_MMCV_OPS='cuda'), 'CPU-only'),
    (dict(RLA_MM_MMCV_OPS='gpu'), "one of ('auto', 'cpu', 'cuda')"),
])
def test_gpu_without_cuda_ops_stops_with_one_line(monkeypatch, capsys, fake,
                                                  reason):
    code, stdout, stderr = _main(monkeypatch, capsys, **fake)
    assert code == 2 and stdout == ''
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith('[setup_env] error: ')
    assert reason in lines[0]
    if 'GPU(s) visible' in lines[0]:  # the way out is named
        assert 'RLA_MM_MMCV_OPS=cpu' in lines[0]


def test_setup_env_prints_the_plan_and_installs_nothing():
    out = subprocess.run(['bash', SETUP, '--plan'],
                         env=_env(PYTHON=sys.executable, **GPU_MACHINE),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert _shell_vars(out.stdout)['MMCV_OPS'] == 'cuda'
    bad = subprocess.run(['bash', SETUP, '--bogus'], env=_env(),
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "allowed: --plan" in bad.stderr


def test_setup_env_stops_before_installing_anything(tmp_path):
    """A GPU machine whose torch is CPU-only: setup_env.sh exits 2 with the
    planner's line as its only output, before pip runs, and writes no
    stamp. (The venv's python runs this interpreter, so that the script's
    `import torch` check passes without installing anything.)"""
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    wrapper = venv / 'bin' / 'python'
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    out = subprocess.run(
        ['bash', SETUP],
        env=_env(VENV=str(venv), RLA_MM_CACHE=str(tmp_path / 'cache'),
                 **dict(GPU_MACHINE, RLA_MM_FAKE_TORCH_CUDA='none')),
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    assert out.stdout == ''
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and 'CPU-only build' in lines[0], lines
    assert not (venv / '.rla_mm_installed').exists()
    assert not (tmp_path / 'cache').exists()


# ----------------------------------------------------- the wheel cache
def _fake_wheel(path, ext_bytes):
    with zipfile.ZipFile(path, 'w') as whl:
        whl.writestr('mmcv/__init__.py', '')
        if ext_bytes is not None:
            whl.writestr('mmcv/_ext.cpython-311-x86_64-linux-gnu.so',
                          ext_bytes)
    return str(path)


def _flavour(monkeypatch, capsys, path):
    return _main(monkeypatch, capsys, '--wheel-flavour', path)


def test_wheel_flavour_of_the_installed_mmcv(monkeypatch, capsys, tmp_path):
    """The flavour test reads the real compiled ops of this environment's
    mmcv the way mmcv itself reports them."""
    import mmcv
    from mmcv.ops import get_compiling_cuda_version
    ext = glob.glob(osp.join(osp.dirname(mmcv.__file__), '_ext*.so'))
    assert ext, 'mmcv without compiled ops'
    with open(ext[0], 'rb') as f:
        whl = _fake_wheel(tmp_path / 'mmcv-2.1.0-cp311-linux.whl', f.read())
    want = 'cpu' if get_compiling_cuda_version() == 'not available' \
        else 'cuda'
    assert _flavour(monkeypatch, capsys, whl)[1].strip() == want


def test_wheel_flavour_reads_the_linked_cuda_runtime(monkeypatch, capsys,
                                                    tmp_path):
    cpu = _fake_wheel(tmp_path / 'a.whl', b'\x7fELF libc10.so libtorch.so')
    cuda = _fake_wheel(tmp_path / 'b.whl',
                       b'\x7fELF libc10.so libc10_cuda.so libcudart.so.12')
    assert _flavour(monkeypatch, capsys, cpu)[1].strip() == 'cpu'
    assert _flavour(monkeypatch, capsys, cuda)[1].strip() == 'cuda'
    code, _, stderr = _flavour(monkeypatch, capsys,
                               _fake_wheel(tmp_path / 'c.whl', None))
    assert code == 2 and 'no compiled mmcv/_ext' in stderr


@pytest.mark.parametrize('legacy_ext,moved', [
    (b'libc10.so', True), (b'libcudart.so.12', False)])
def test_cpu_wheel_of_the_old_cache_key_is_adopted(monkeypatch, capsys,
                                                   tmp_path, legacy_ext,
                                                   moved):
    legacy = tmp_path / 'mmcv-2.1.0-py311-torch2.14.1+cu130'
    new = tmp_path / 'mmcv-2.1.0-py311-torch2.14.1+cu130-cpu'
    legacy.mkdir()
    _fake_wheel(legacy / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl',
                legacy_ext)
    for _ in range(2):  # idempotent: the second call finds the new key
        code, _, stderr = _main(monkeypatch, capsys, '--adopt-legacy',
                                str(legacy), str(new))
        assert code == 0, stderr
    assert (new / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl').exists() \
        == moved
    assert legacy.exists() != moved
