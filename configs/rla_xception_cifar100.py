# CIFAR-100 RLA-Xception (k = 15) with mmpretrain's CIFAR100 dataset (RLA
# paper Table 2, C-100: Xception 2.75M, error 24.31; RLA +0.06M, error
# 24.00); as configs/rla_xception_cifar10.py otherwise. Inherits the base
# directly (two levels at most), as configs/rla_resnet110_cifar100.py does.
_base_ = './_base_/rla_resnet_cifar10.py'

rla_channel = 15
model = dict(
    backbone=dict(
        _delete_=True,
        type='RLAXceptionCIFAR',
        rla_channel=rla_channel,
        concat_hidden=True),  # classifier sees cat(x, ReLU(BN(h)))
    head=dict(num_classes=100, in_channels=512 + rla_channel))

dataset_type = 'CIFAR100'
data_preprocessor = dict(
    num_classes=100,
    mean=[129.304, 124.070, 112.434],
    std=[68.170, 65.392, 70.418],
    to_rgb=False)
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root='data/cifar100'))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root='data/cifar100'))
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root='data/cifar100'))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
