# The classification demo (`make demo-cls`): a CIFAR-style pre-activation
# RLA-ResNet-20 (k = 4, RLA paper App. B.1) trained from scratch on the tiny
# generated image folder of tools/misc/make_cls_demo_data.py (4 shape
# classes, 32x32) on a 2-core CPU in about a minute, then evaluated with
# mmpretrain's Accuracy metric (chance: 25%).
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

data_root = 'data/demo_cls'
classes = ('circle', 'cross', 'square', 'triangle')  # folder names, sorted
rla_channel = 4

data_preprocessor = dict(
    num_classes=len(classes),
    mean=[127.5, 127.5, 127.5],
    std=[64.0, 64.0, 64.0],
    to_rgb=True)
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='RLAResNetCIFAR',
        depth=20,
        rla_channel=rla_channel,
        preact=True,
        out_indices=(2, ),
        concat_hidden=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=len(classes),
        in_channels=64 + rla_channel,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
# 32x32 PNGs load in microseconds: worker processes would only compete with
# the model for the 2 cores. persistent_workers=False is spelled out because
# mmpretrain's own tools/train.py fills in persistent_workers=True where a
# config says nothing, and torch's DataLoader refuses that with num_workers=0.
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        classes=classes,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        classes=classes,
        pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

max_epochs = 12
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=4)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=3e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=12),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5,
         by_epoch=True, begin=0, end=max_epochs)
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=4),
    checkpoint=dict(type='CheckpointHook', interval=4, max_keep_ckpts=1))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=16)
