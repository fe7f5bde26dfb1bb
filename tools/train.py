"""Train a detector or classifier with rla_mm models (mmdet's tools/train.py,
plus: rla_mm registered, gloo on CPU for ``--launcher pytorch`` with the
config's ``env_cfg.dist_cfg``, atomic checkpoints that are deleted only after
the next one is complete, a resume that skips an interrupted save, and one
readable error line for missing or unusable data, weights and checkpoints).

    python tools/train.py configs/faster_rcnn_rla_r50_fpn_1x_coco.py
    bash tools/dist_train.sh CONFIG 8 [--amp] [--auto-scale-lr]
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import rla_mm  # noqa: F401  (registers rla_mm models for any config)
from rla_mm.engine.checkpoint_check import (PARTIAL_FLAG,
                                            check_checkpoint_fits,
                                            check_pretrained)
from rla_mm.engine.cuda_ops import exit_if_mmcv_lacks_cuda_ops
from rla_mm.engine.errors import UserInputError
from rla_mm.engine.launch import (batch_size_warning, check_inputs,
                                  run_cli, setup_distributed,
                                  use_atomic_checkpoints)
from rla_mm.engine.resume import resolve_resume

# an mmcv without CUDA ops on a GPU machine fails deep inside mmdet's ops
# (or silently runs them on the CPU): say so before anything else happens
exit_if_mmcv_lacks_cuda_ops()


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision (GPU)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by total batch / auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint, or (no value) from the latest '
        'complete checkpoint in the work dir (none yet: start from scratch)')
    parser.add_argument(
        PARTIAL_FLAG,
        action='store_true',
        help='let init_cfg Pretrained files and the --resume checkpoint load '
        'even if they fit the model only in part (mmengine then loads the '
        'matching tensors and warns)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. train_cfg.max_epochs=2')
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
    if not osp.isfile(args.config):
        raise UserInputError(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise UserInputError('--amp needs a CUDA device (mmengine\'s '
                                 'AmpOptimWrapper does not run on the CPU)')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise UserInputError(
                '--auto-scale-lr needs `auto_scale_lr = '
                'dict(base_batch_size=...)` in the config')
        cfg.auto_scale_lr.enable = True
    resume_from, note = resolve_resume(cfg.work_dir, args.resume)
    if note is not None:
        print(note, file=sys.stderr)
    cfg.resume = resume_from is not None
    if resume_from is not None:
        cfg.load_from = resume_from
    use_atomic_checkpoints(cfg)
    cfg.custom_hooks = [*cfg.get('custom_hooks', []),
                        dict(type='TrainDataCheckHook')]
    return cfg


def train(args, cfg: Config) -> None:
    check_inputs(cfg, 'train')
    setup_distributed(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg \
        else RUNNERS.build(cfg)
    warning = batch_size_warning(cfg, runner.world_size, args.auto_scale_lr)
    if warning:
        runner.logger.warning(warning)
    if cfg.resume:  # the pretrained weights are overwritten by the resume
        check_checkpoint_fits(runner.model, cfg.load_from,
                              args.allow_partial_load, '--resume checkpoint',
                              config=args.config)
    else:
        check_pretrained(runner.model, args.allow_partial_load)
    runner.train()


def main():
    args = parse_args()
    run_cli(lambda: build_cfg(args), lambda cfg: train(args, cfg))


if __name__ == '__main__':
    main()
