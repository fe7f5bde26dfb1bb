"""Evaluate a checkpoint (mmdet's tools/test.py, with rla_mm registered and
the same CPU/gloo and missing-input handling as tools/train.py). A checkpoint
that does not fit the config's model (another architecture: missing,
unexpected or mis-shaped keys) is refused with one line unless
``--allow-partial-load``: mmengine would evaluate a mostly random model.

    python tools/test.py CONFIG CHECKPOINT [--out results.pkl] [--show-dir D]
    bash tools/dist_test.sh CONFIG CHECKPOINT 8
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import rla_mm  # noqa: F401
from rla_mm.engine.checkpoint_check import (PARTIAL_FLAG,
                                            check_checkpoint_fits)
from rla_mm.engine.cuda_ops import exit_if_mmcv_lacks_cuda_ops
from rla_mm.engine.errors import UserInputError
from rla_mm.engine.launch import check_inputs, run_cli, setup_distributed

exit_if_mmcv_lacks_cuda_ops()  # see tools/train.py


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='dir for the evaluation metrics')
    parser.add_argument(
        '--out', help='dump the predictions to a pickle file (.pkl)')
    parser.add_argument(
        '--show-dir',
        help='save images with predictions drawn, under work_dir/timestamp/')
    parser.add_argument(
        PARTIAL_FLAG,
        action='store_true',
        help='evaluate even if the checkpoint fits the model only in part '
        '(mmengine loads the matching tensors and warns)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_cfg(args) -> Config:
    for path, what in ((args.config, 'config'), (args.checkpoint,
                                                 'checkpoint')):
        if not osp.isfile(path):
            raise UserInputError(f'{what} file not found: {path}')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    # Weights come from the checkpoint: no need for the pretrained file.
    _drop_pretrained(cfg.model)
    if args.show_dir:
        vis = cfg.default_hooks.get('visualization')
        if vis is None:
            raise UserInputError(
                '--show-dir needs a `visualization` default hook')
        vis.draw = True
        vis.test_out_dir = args.show_dir
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise UserInputError(f'--out must be a .pkl file, got {args.out}')
    return cfg


def test(args, cfg: Config) -> None:
    check_inputs(cfg, 'test')
    setup_distributed(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg \
        else RUNNERS.build(cfg)
    fit = check_checkpoint_fits(runner.model, args.checkpoint,
                                args.allow_partial_load, config=args.config)
    if not fit.exact:
        runner.logger.warning(
            f'{PARTIAL_FLAG}: only {len(fit.loaded)} of {fit.total} tensors '
            f'of the model come from {args.checkpoint} ({fit.summary()})')
    if args.out is not None:
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    runner.test()


def main():
    args = parse_args()
    run_cli(lambda: build_cfg(args), lambda cfg: test(args, cfg))


def _drop_pretrained(node):
    if isinstance(node, dict):
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            node['init_cfg'] = None
        for v in node.values():
            _drop_pretrained(v)


if __name__ == '__main__':
    main()
