# ResNet-56 with its last 4 3x3 convs as CSR-Convs with T = 2: the T and
# #C-C of CSR-Conv paper Table 2's ResNet-56 "CSR-Conv-1" (0.66M params,
# error 6.12). The paper does not say which convs it converted; this layout
# (the last ones, Sec. 4.4) gives 0.78M (docs/csr_conv.md).
_base_ = './_base_/csr_cifar10.py'
model = dict(backbone=dict(csr_num_steps=(1, 1, 2), csr_num_convs=(0, 0, 4)))
