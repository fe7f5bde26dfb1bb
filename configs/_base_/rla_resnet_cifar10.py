# CIFAR-10 RLA-ResNet (pre-activation, 3 stages 16/32/64), RLA paper App. B.1.
# Schedule (Sec. 4.1 / App. B.1): Nesterov SGD momentum 0.9, weight decay
# 1e-4, batch 128, 300 epochs, lr 0.1 divided by 10 at epochs 150 and 225;
# zero-pad 4 + random crop 32 + horizontal flip; He init.
# Protocol of App. B.1: train on 45k images of the training set, "choose the
# model with the highest validation accuracy" on the other 5k, report it on
# the 10k test set. The split is fixed: mmpretrain's CIFAR10 reads the
# training set in its file order (data_batch_1 .. data_batch_5), the first
# 45,000 images train (BaseDataset `indices=45000`), the last 5,000 (the
# second half of data_batch_5, `indices=-5000`) validate; CheckpointHook
# `save_best` keeps the best epoch on them; `tools/test.py` on that checkpoint
# gives the test number. The `*_trainval.py` configs train on all 50k.
# Depth 110 with k = 4 by default; the configs beside configs/ pick the model.
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

rla_channel = 4
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='RLAResNetCIFAR',
        depth=110,
        rla_channel=rla_channel,
        preact=True,  # the paper's CIFAR baselines are pre-activation nets
        out_indices=(2, ),
        concat_hidden=True),  # classifier sees cat(x, ReLU(BN(h)))
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64 + rla_channel,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

# no download at run time: put the python version of CIFAR-10 under
# data/cifar10/cifar-10-batches-py (see docs/recipes.md)
num_train_images = 45000  # of the 50,000 of the training set
train_dataloader = dict(
    batch_size=128, dataset=dict(download=False, indices=num_train_images))
# the held-out 5k: the training split without augmentation (test pipeline)
val_dataloader = dict(
    batch_size=128,
    dataset=dict(
        split='train', indices=num_train_images - 50000, download=False))
test_dataloader = dict(
    batch_size=128, dataset=dict(split='test', download=False))

optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[150, 225], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# the best epoch on the validation split ('auto': its first metric, top-1)
default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook', interval=10, max_keep_ckpts=2,
        save_best='auto'))
auto_scale_lr = dict(base_batch_size=128)
