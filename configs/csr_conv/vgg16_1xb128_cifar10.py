# The plain CIFAR VGG-16 of CSR-Conv paper Table 2 (14.98M params, top-1
# error 6.04): CSRVGG with every T = 1, classifier 512-512-10.
_base_ = './_base_/csr_cifar10.py'
model = dict(
    backbone=dict(_delete_=True, type='CSRVGG', arch='vgg16'),
    head=dict(
        _delete_=True,
        type='StackedLinearClsHead',
        num_classes=10,
        in_channels=512,
        mid_channels=[512],
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
