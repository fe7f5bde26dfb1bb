# RLA-ResNet on ImageNet, as in the RLA paper Sec. 4.2 / App. B.2.1:
# SGD (momentum 0.9, weight decay 1e-4), total batch 256 (4 GPUs x 64),
# 120 epochs, lr 0.1 divided by 10 every 30 epochs, Kaiming init,
# RandomResizedCrop 224 + flip; test: resize short side 256, center crop 224.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs64.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
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
        # the authors' code: Kaiming init, no zero-init of the last BN
        zero_init_residual=False,
        rla_source='output'),
    head=dict(in_channels=2048 + rla_channel))

train_dataloader = dict(batch_size=64)
val_dataloader = dict(batch_size=64)
test_dataloader = dict(batch_size=64)

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=1)
auto_scale_lr = dict(base_batch_size=256)
