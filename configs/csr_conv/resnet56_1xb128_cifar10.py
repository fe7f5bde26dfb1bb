# The plain CIFAR ResNet-56 of CSR-Conv paper Table 2 (0.85M params, top-1
# error 6.74); ours has option-B shortcuts (0.86M, docs/csr_conv.md).
_base_ = './_base_/csr_cifar10.py'
