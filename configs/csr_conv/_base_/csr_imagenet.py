# CSR-Conv networks on ImageNet (CSR-Conv paper Sec. 4, "Implementation"):
# SGD, cross-entropy, lr 0.05, momentum 0.9, weight decay 5e-4, lr divided
# by 10 every 10 epochs. The paper gives neither the batch size nor the
# number of epochs: 8 x 32 and 40 epochs are our choices (as in
# csr-resnet50-t3-last10_8xb32_in1k.py). Data: mmpretrain's ImageNet pipeline
# (random resized crop 224, flip) from data/imagenet/; the authors' notebook
# has no ImageNet pipeline.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='CSRMobileNetV2', csr_layout=None),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1280,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(type='StepLR', step_size=10, gamma=0.1, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
