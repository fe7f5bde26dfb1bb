# CIFAR-10 Xception, the baseline of RLA paper Table 2's Xception rows
# (2.70M params, error 6.03 re-implemented by the paper): the thin CIFAR
# Xception of rla_mm/models/backbones/rla_xception.py without RLA
# (docs/rla_xception.md), with the schedule and protocol of App. B.1
# (configs/_base_/rla_resnet_cifar10.py, whose backbone is replaced).
_base_ = './_base_/rla_resnet_cifar10.py'

rla_channel = 0  # no RLA (the base's k is not used)
model = dict(
    backbone=dict(_delete_=True, type='XceptionCIFAR'),
    head=dict(in_channels=512))
