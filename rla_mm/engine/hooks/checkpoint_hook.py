"""mmengine's ``CheckpointHook`` that never leaves a run without a checkpoint.

mmengine 0.10's hook, with ``max_keep_ckpts=N``, deletes the oldest kept
checkpoint *before* it writes the new one (and the previous best checkpoint
before the new best): a run killed during that save has lost one checkpoint
more than it had to — with ``max_keep_ckpts=1`` all of them — and
``last_checkpoint`` still names the deleted file. This subclass saves first
(atomically, through ``backend_args=dict(backend='rla_mm_atomic_local')``),
then points ``last_checkpoint`` at the new file (atomically), and only then
deletes the outdated files. What it keeps and its message-hub records are
mmengine's. At the start of training it removes the ``.part`` files that a
killed atomic write left behind.

``tools/train.py`` selects it in place of ``CheckpointHook``
(:func:`rla_mm.engine.launch.use_atomic_checkpoints`); a config can name it
directly: ``default_hooks.checkpoint.type='AtomicCheckpointHook'``.
"""
import contextlib
import os.path as osp
from typing import List

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from ..fileio import atomic_write_text, remove_stale_parts


class _DeferRemovals:
    """A file backend whose ``remove``/``rmtree`` are recorded, not run."""

    def __init__(self, backend, pending: List[tuple]):
        self._backend = backend
        self._pending = pending

    def remove(self, path):
        self._pending.append(('remove', path))

    def rmtree(self, path):
        self._pending.append(('rmtree', path))

    def __getattr__(self, name):
        return getattr(self._backend, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that deletes outdated checkpoints only after the
    new one is complete. Arguments are ``CheckpointHook``'s.

    Example:
        >>> default_hooks = dict(checkpoint=dict(
        ...     type='AtomicCheckpointHook', interval=1, max_keep_ckpts=1,
        ...     backend_args=dict(backend='rla_mm_atomic_local')))
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not is_main_process():
            return
        dirs = {runner.work_dir, self.out_dir}
        for dirname in sorted(d for d in dirs if d and osp.isdir(d)):
            for path in remove_stale_parts(dirname):
                runner.logger.info(
                    f'removed {path}: a save that was interrupted')

    @contextlib.contextmanager
    def _removals_after_save(self):
        """Record the removals the parent's code asks for; run them when the
        block (which saves) has completed, never if it raised."""
        if isinstance(self.file_backend, _DeferRemovals):  # nested call
            yield
            return
        pending: List[tuple] = []
        backend = self.file_backend
        self.file_backend = _DeferRemovals(backend, pending)
        try:
            yield
        finally:
            self.file_backend = backend
        kept = {self.last_ckpt, getattr(self, 'best_ckpt_path', None),
                *getattr(self, 'best_ckpt_path_dict', {}).values()}
        for op, path in pending:
            if path not in kept:
                getattr(backend, op)(path)

    def _save_checkpoint_with_step(self, runner, step, meta):
        with self._removals_after_save():
            if self.max_keep_ckpts > 0 and not (
                    self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
                # the same bookkeeping as mmengine's: what leaves the kept
                # window is deleted (after the save, by the context above)
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    outdated = self.keep_ckpt_ids.popleft()
                    if is_main_process():
                        self._remove(
                            self.file_backend.join_path(
                                self.out_dir,
                                self.filename_tmpl.format(outdated)))
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info('keep_ckpt_ids',
                                               list(self.keep_ckpt_ids))
            ckpt_filename = self.filename_tmpl.format(step)
            self.last_ckpt = self.file_backend.join_path(
                self.out_dir, ckpt_filename)
            runner.message_hub.update_info('last_ckpt', self.last_ckpt)
            runner.save_checkpoint(
                self.out_dir,
                ckpt_filename,
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
            if is_main_process():
                atomic_write_text(self.last_ckpt,
                                  osp.join(runner.work_dir, 'last_checkpoint'))

    def _remove(self, path) -> None:
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # deepspeed saves directories
            self.file_backend.rmtree(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        with self._removals_after_save():
            super()._save_best_checkpoint(runner, metrics)
