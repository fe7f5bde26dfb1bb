# CIFAR-10 RLA-Xception (RLA paper App. B.1 "RLA-Xception for CIFAR",
# Table 2: Xception 2.70M params, error 6.03; RLA +0.07M, error 5.78): the
# thin CIFAR Xception of rla_mm/models/backbones/rla_xception.py with k = 15
# (docs/rla_xception.md). The paper's CIFAR schedule and 45k/5k protocol of
# configs/_base_/rla_resnet_cifar10.py, whose RLA-ResNet backbone is replaced.
_base_ = './_base_/rla_resnet_cifar10.py'

rla_channel = 15
model = dict(
    backbone=dict(
        _delete_=True,
        type='RLAXceptionCIFAR',
        rla_channel=rla_channel,
        concat_hidden=True),  # classifier sees cat(x, ReLU(BN(h)))
    head=dict(in_channels=512 + rla_channel))
