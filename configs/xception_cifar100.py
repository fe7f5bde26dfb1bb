# CIFAR-100 Xception, the baseline of RLA paper Table 2's C-100 Xception
# row (2.75M params, error 24.31), with mmpretrain's CIFAR100 dataset; as
# configs/xception_cifar10.py otherwise. Inherits the base directly (two
# levels at most), as configs/rla_resnet110_cifar100.py does.
_base_ = './_base_/rla_resnet_cifar10.py'

rla_channel = 0  # no RLA (the base's k is not used)
model = dict(
    backbone=dict(_delete_=True, type='XceptionCIFAR'),
    head=dict(num_classes=100, in_channels=512))

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
