# RecNet on CIFAR-100 (RecNets Sec. 3): SGD with Nesterov momentum 0.9,
# dampening 0, weight decay 5e-4, lr 0.1, minibatch 64, 200 epochs, cosine
# annealing restarted at epochs 20, 60 and 120 (SGDR periods 20/40/60/80);
# horizontal flips + random crops, per-channel mean/std normalisation.
# Model: RecNet-60-1280 = RecNet(4,8,16,32,10,10,10), the paper's default.
_base_ = [
    'mmpretrain::_base_/datasets/cifar100_bs16.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='RecNet', arch='60-1280'),
    neck=dict(type='GlobalAveragePooling'),  # Table 1: average pooling 8x8
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=320,  # S3 * d3
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

# Nothing is downloaded at run time: put the python version of CIFAR-100
# (train, test, meta) in data/cifar100/cifar-100-python/ first.
train_dataloader = dict(batch_size=64, dataset=dict(download=False))
val_dataloader = dict(batch_size=64, dataset=dict(download=False))
test_dataloader = dict(batch_size=64, dataset=dict(download=False))

optim_wrapper = dict(
    optimizer=dict(
        type='SGD',
        lr=0.1,
        momentum=0.9,
        dampening=0,
        nesterov=True,
        weight_decay=5e-4))
param_scheduler = dict(
    type='CosineRestartLR',
    periods=[20, 40, 60, 80],
    restart_weights=[1, 1, 1, 1],
    eta_min=0,
    by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
