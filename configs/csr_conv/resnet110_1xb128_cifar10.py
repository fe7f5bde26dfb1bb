# The plain CIFAR ResNet-110 of CSR-Conv paper Table 2 (1.74M params, top-1
# error 6.50); ours has option-B shortcuts (1.73M, docs/csr_conv.md).
_base_ = './_base_/csr_cifar10.py'
model = dict(backbone=dict(depth=110))
