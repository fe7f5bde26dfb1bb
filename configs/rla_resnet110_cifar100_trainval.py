# RLA-ResNet-110 on CIFAR-100 as configs/rla_resnet110_cifar100.py, but
# trained on all 50k training images instead of the 45k of the paper's
# protocol (RLA paper App. B.1; see configs/_base_/rla_resnet_cifar10.py):
# validation runs on the test set every epoch to show progress only, no
# checkpoint is selected on it (selecting on the test set would report an
# optimistic number); report the last epoch. Inherits the base directly (two
# levels at most); tests/test_configs/test_cifar_protocol.py checks that it
# resolves to that config plus these data/selection changes.
_base_ = './_base_/rla_resnet_cifar10.py'

model = dict(head=dict(num_classes=100))

dataset_type = 'CIFAR100'
data_preprocessor = dict(
    num_classes=100,
    mean=[129.304, 124.070, 112.434],
    std=[68.170, 65.392, 70.418],
    to_rgb=False)
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root='data/cifar100', indices=None))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type, data_root='data/cifar100', split='test',
        indices=None))
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root='data/cifar100'))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best=None))
