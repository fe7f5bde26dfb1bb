# CIFAR-100 RLA-ResNet-164 (k = 12) with mmpretrain's CIFAR100 dataset
# (paper Table 2, C-100 rows); the 45k/5k protocol of App. B.1 as for
# CIFAR-10 (configs/_base_/rla_resnet_cifar10.py).
_base_ = './_base_/rla_resnet_cifar10.py'

rla_channel = 12
model = dict(
    backbone=dict(depth=164, rla_channel=rla_channel),
    head=dict(num_classes=100, in_channels=256 + rla_channel))

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
