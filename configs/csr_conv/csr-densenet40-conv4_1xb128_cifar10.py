# DenseNet-40 CSR-Conv-4 (CSR-Conv paper Table 2: 0.38M params, rho_M 63.7%,
# #C-C 23, T 4, top-1 error 6.01). The paper does not say which convs it
# converted and no simple rule reproduces the row: the last 5 / 7 / 11 dense
# convs of blocks 1 / 2 / 3 at T = 4 (23 cells) is our closest layout of that
# form (docs/csr_conv.md), not the authors'.
_base_ = './_base_/csr_cifar10.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='CSRDenseNet',
        depth=40,
        growth_rate=12,
        csr_layout='table2-csr-conv-4',
        csr_cell='ode'),
    head=dict(in_channels=456))
