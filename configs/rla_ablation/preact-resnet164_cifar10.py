# App. B.4 / Table 2 baseline: He et al.'s pre-activation ResNet-164 on
# CIFAR-10 without RLA (1,703,258 parameters; the tables print 1.72M, which
# no ResNet-164 reaches: docs/rla.md, "Ablation study"). Recipe of App. B.1.
_base_ = '../_base_/rla_resnet_cifar10.py'
model = dict(
    backbone=dict(_delete_=True, type='PreActResNetCIFAR', depth=164),
    head=dict(in_channels=256))
