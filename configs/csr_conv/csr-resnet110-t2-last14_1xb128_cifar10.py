# ResNet-110 with its last 14 3x3 convs as CSR-Convs with T = 2: the T and
# #C-C of CSR-Conv paper Table 2's ResNet-110 "CSR-Conv-2" (1.11M params,
# error 5.55, the best of the table). The paper does not say which convs it
# converted; this layout (the last ones, Sec. 4.4) gives 1.47M
# (docs/csr_conv.md).
_base_ = './_base_/csr_cifar10.py'
model = dict(
    backbone=dict(
        depth=110, csr_num_steps=(1, 1, 2), csr_num_convs=(0, 0, 14)))
