# RCNet on CIFAR-10 ([RC-CA] Eq. 8 / [RC-MC] App. A-B): SGD (momentum 0.9,
# weight decay 1e-4), batch 128 on one GPU, lr 0.1 divided by 10 at epochs 60
# and 90, 160 epochs (120 for unrolled depth <= 10), gradients clipped to
# [-0.1, 0.1], shared parameters at half the lr ([RC-CA] Sec. 3.3), PyTorch's
# default init; standard CIFAR augmentation (pad-4 random crop + flip).
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/schedules/cifar10_bs128.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='RCNet',
        # n, the unrolling steps of every cell: RCNet's default 4 (R_2^4); a
        # config sets `num_steps=n`, and `max_steps` only for a
        # cost-adjustable model (docs/rc.md)
        share_weights=True,
        bn_mode='independent',
        base_channels=64),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=256,  # 4 * 64 after InvPool
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

# Nothing is downloaded at run time: put the python version of CIFAR-10
# (data_batch_1..5, test_batch, batches.meta) in
# data/cifar10/cifar-10-batches-py/ first.
train_dataloader = dict(batch_size=128, dataset=dict(download=False))
val_dataloader = dict(batch_size=128, dataset=dict(download=False))
test_dataloader = dict(batch_size=128, dataset=dict(download=False))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(type='value', clip_value=0.1),
    # Every parameter used at several unrolling steps lives in `shared_convs`
    # or `shared_norms` (RCPreActBlock); the standard networks S have none.
    paramwise_cfg=dict(
        custom_keys={
            '.shared_convs.': dict(lr_mult=0.5),
            '.shared_norms.': dict(lr_mult=0.5)
        }))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[60, 90], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=160, val_interval=1)
auto_scale_lr = dict(base_batch_size=128)
