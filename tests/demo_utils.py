"""Helpers for the end-to-end tests: tiny demo data and runs of the tools."""
import os
import os.path as osp
import subprocess
import sys

from rla_mm.testing.demo_data import make_demo_data

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: What a fresh login shell has: system directories only, no virtualenv,
#: nothing on PYTHONPATH (used to run documented commands as a user would).
USER_PATH = '/usr/local/bin:/usr/bin:/bin'


def tiny_demo_data(root, num_train=16, num_val=8):
    return make_demo_data(str(root), num_train=num_train, num_val=num_val)


def demo_data_options(data_root, max_epochs=1):
    """--cfg-options that point a demo config at ``data_root``."""
    data_root = str(data_root).rstrip('/') + '/'
    ann_val = data_root + 'annotations/instances_val.json'
    opts = [
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'val_evaluator.ann_file={ann_val}',
        f'test_evaluator.ann_file={ann_val}',
        f'train_cfg.max_epochs={max_epochs}',
        f'train_cfg.val_interval={max_epochs}',
        'default_hooks.checkpoint.interval=1',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1',
    ]
    return opts


def run_tool(args, env=None, check=True, timeout=900):
    """Run a repo tool in a fresh interpreter, returning the CompletedProcess."""
    full_env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='2')
    full_env.update(env or {})
    cmd = args if args[0] == 'bash' else [sys.executable] + args
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          env=full_env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} failed ({proc.returncode}):\n'
                             f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
    return proc


def run_as_user(command, home, timeout=900):
    """Run a shell command line in the repo as a user in a fresh shell:
    ``env -i`` with only PATH (system directories) and HOME, no activated
    virtualenv, nothing on PYTHONPATH. Returns the CompletedProcess."""
    return subprocess.run(
        ['env', '-i', f'PATH={USER_PATH}', f'HOME={home}', 'bash', '-c',
         command], cwd=REPO, capture_output=True, text=True, timeout=timeout)
