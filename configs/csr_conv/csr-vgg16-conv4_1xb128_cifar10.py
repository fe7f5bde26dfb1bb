# VGG-16 CSR-Conv-4 on CIFAR-10: CSR-Conv paper Table 1 (conv6-13 as
# CSR-Convs with T = 5) = Table 2 "CSR-Conv-4" (2.02M params, rho_M 86.5%,
# top-1 error 6.35). Classifier 512-512-10 (Table 1's FC: 267,264 weights).
_base_ = './_base_/csr_cifar10.py'
model = dict(
    backbone=dict(_delete_=True, type='CSRVGG', arch='csr-conv-4'),
    head=dict(
        _delete_=True,
        type='StackedLinearClsHead',
        num_classes=10,
        in_channels=512,
        mid_channels=[512],
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
