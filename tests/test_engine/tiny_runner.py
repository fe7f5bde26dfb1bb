"""A real mmengine Runner around a tiny RLA-ResNet classifier, trained on an
image folder in seconds (shared by the engine tests)."""
from mmengine.runner import Runner


def tiny_classifier_runner(work_dir, data_root, max_epochs, resume=False,
                           load_from=None, checkpoint=None, batch_size=4):
    """Args:
        checkpoint: the ``default_hooks.checkpoint`` config (default:
            mmengine's ``CheckpointHook`` every epoch).
    """
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    return Runner(
        model=dict(
            type='ImageClassifier',
            backbone=dict(type='RLAResNet', depth=18, base_channels=8,
                          rla_channel=4, out_indices=(3, ),
                          concat_hidden=True),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=2, in_channels=68),
            data_preprocessor=dict(type='ClsDataPreprocessor', mean=[0] * 3,
                                   std=[255] * 3)),
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=dict(type='CustomDataset', data_root=data_root,
                         pipeline=pipeline),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=batch_size, num_workers=0),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        default_hooks=dict(
            checkpoint=checkpoint or dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmpretrain',
        resume=resume,
        load_from=load_from,
        randomness=dict(seed=0))
