# DenseNet-40 CSR-Conv-1 (CSR-Conv paper Table 2: 0.89M params, rho_M 15.9%,
# #C-C 19, T 2, top-1 error 5.19). The paper does not say which convs it
# converted and no simple rule reproduces the row: the last 12 / 7 / 0 dense
# convs of blocks 1 / 2 / 3 at T = 2 (19 cells) is our closest layout of that
# form (docs/csr_conv.md), not the authors'.
_base_ = './_base_/csr_cifar10.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='CSRDenseNet',
        depth=40,
        growth_rate=12,
        csr_layout='table2-csr-conv-1',
        csr_cell='ode'),
    head=dict(in_channels=456))
