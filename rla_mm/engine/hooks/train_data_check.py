"""Stop a detection run whose training set has no usable box.

mmdet's ``CocoDataset`` drops boxes it cannot use (width or height < 1,
zero area, a category outside ``metainfo.classes``) while parsing, and with
``filter_empty_gt`` it only removes images that have *no annotation at all*:
a training set whose every box is invalid trains on zero ground truth, for
as many epochs as asked, without a word. This hook looks at the built
training set before the first iteration and raises
:class:`~rla_mm.engine.errors.UserInputError` naming the annotation file.
"""
from typing import Iterator

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..errors import UserInputError


def leaf_datasets(dataset) -> Iterator:
    """The datasets inside mmengine/mmdet wrappers (Repeat, Concat, ...)."""
    inner = getattr(dataset, 'datasets', None)
    if isinstance(inner, (list, tuple)):
        for sub in inner:
            yield from leaf_datasets(sub)
    elif hasattr(dataset, 'dataset'):
        yield from leaf_datasets(dataset.dataset)
    else:
        yield dataset


def has_usable_box(dataset) -> bool:
    """True if any image has an instance that is not ignored; also True for
    datasets without instances (classification)."""
    for i in range(len(dataset)):
        instances = dataset.get_data_info(i).get('instances')
        if instances is None:
            return True
        if any(not inst.get('ignore_flag', 0) for inst in instances):
            return True
    return False


@HOOKS.register_module()
class TrainDataCheckHook(Hook):
    """Refuse a detection training set without a single usable box.

    Example:
        >>> custom_hooks = [dict(type='TrainDataCheckHook')]
    """
    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        for dataset in leaf_datasets(runner.train_dataloader.dataset):
            name = getattr(dataset, 'ann_file', None) or type(dataset).__name__
            if len(dataset) == 0:
                raise UserInputError(
                    f'training set {name} has no image left after filtering '
                    '(filter_cfg): check the file and the classes of '
                    'metainfo')
            if not has_usable_box(dataset):
                classes = dataset.metainfo.get('classes')
                raise UserInputError(
                    f'training set {name}: none of its {len(dataset)} images '
                    'has a usable box (each is ignored, smaller than 1 pixel, '
                    f'of zero area or of a category not in {classes}); fix '
                    'the annotations or metainfo.classes')
