# RLA-ResNet on ImageNet, as in the RLA paper Sec. 4.2 / App. B.2.1 and the
# authors' code: SGD (momentum 0.9, weight decay 1e-4), total batch 256
# (4 GPUs x 64), 120 epochs, lr 0.1 divided by 10 every 30 epochs, Kaiming
# init with the last BN of every block at gamma = 0, RandomResizedCrop 224 +
# flip; test: resize short side 256, center crop 224 -- decoded and resized
# with PIL as the authors' torchvision pipeline does (docs/recipes.md).
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs64.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
    './imagenet_authors_pipelines.py',
]
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

rla_channel = 32
model = dict(
    backbone=dict(
        _delete_=True,
        type='RLAResNet',
        depth=50,
        rla_channel=rla_channel,
        out_indices=(3, ),
        concat_hidden=True,  # classifier sees cat(x, ReLU(BN(h)))
        # the authors' RLA_ResNet(zero_init_last_bn=True), the default their
        # train.py builds: bn3 of every block starts at gamma = 0
        zero_init_residual=True,
        rla_source='output'),
    head=dict(in_channels=2048 + rla_channel))

train_pipeline = _base_.authors_train_pipeline  # PIL, as the authors
test_pipeline = _base_.authors_test_pipeline
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(batch_size=64, dataset=dict(pipeline=test_pipeline))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=1)
auto_scale_lr = dict(base_batch_size=256)
