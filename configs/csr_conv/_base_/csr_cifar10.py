# CSR-Conv networks on CIFAR-10 (CSR-Conv paper Sec. 4, "Implementation"):
# SGD, cross-entropy, lr 0.05, momentum 0.9, weight decay 5e-4, lr halved
# every 30 epochs. The paper gives neither the batch size nor the number of
# epochs: batch 128 (mmpretrain's CIFAR setting) and 300 epochs (Fig. 7
# plots "the first 100 epochs") are our choices. Standard augmentation
# (pad-4 random crop + flip) from mmpretrain's CIFAR-10 pipeline.
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='CSRResNetCIFAR', depth=56),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

# Nothing is downloaded at run time: put the python version of CIFAR-10
# (data_batch_1..5, test_batch, batches.meta) in
# data/cifar10/cifar-10-batches-py/ first.
train_dataloader = dict(batch_size=128, dataset=dict(download=False))
val_dataloader = dict(batch_size=128, dataset=dict(download=False))
test_dataloader = dict(batch_size=128, dataset=dict(download=False))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(type='StepLR', step_size=30, gamma=0.5, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)
