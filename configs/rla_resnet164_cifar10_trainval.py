# RLA-ResNet-164 on CIFAR-10 as configs/rla_resnet164_cifar10.py, but
# trained on all 50k training images instead of the 45k of the paper's
# protocol (RLA paper App. B.1; see configs/_base_/rla_resnet_cifar10.py):
# validation runs on the test set every epoch to show progress only, no
# checkpoint is selected on it (selecting on the test set would report an
# optimistic number); report the last epoch. Inherits the base directly (two
# levels at most); tests/test_configs/test_cifar_protocol.py checks that it
# resolves to that config plus these data/selection changes.
_base_ = './_base_/rla_resnet_cifar10.py'

rla_channel = 12
model = dict(
    backbone=dict(depth=164, rla_channel=rla_channel),
    head=dict(in_channels=256 + rla_channel))

train_dataloader = dict(dataset=dict(indices=None))
val_dataloader = dict(dataset=dict(split='test', indices=None))
default_hooks = dict(checkpoint=dict(save_best=None))
