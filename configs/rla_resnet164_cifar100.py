# CIFAR-100 RLA-ResNet-164: rla_resnet164_cifar10.py with mmpretrain's
# CIFAR100 dataset (paper Table 2, C-100 rows).
_base_ = './rla_resnet164_cifar10.py'

dataset_type = 'CIFAR100'
data_preprocessor = dict(
    num_classes=100,
    mean=[129.304, 124.070, 112.434],
    std=[68.170, 65.392, 70.418],
    to_rgb=False)
model = dict(head=dict(num_classes=100))
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root='data/cifar100'))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root='data/cifar100'))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
