# DenseNet-40 CSR-Conv-5 (CSR-Conv paper Table 2: 0.19M params, rho_M 82.4%,
# #C-C 34, T 5, top-1 error 8.30). The paper does not say which convs it
# converted and no simple rule reproduces the row: the last 10 / 12 / 12 dense
# convs of blocks 1 / 2 / 3 at T = 5 (34 cells) is our closest layout of that
# form (docs/csr_conv.md), not the authors'.
_base_ = './_base_/csr_cifar10.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='CSRDenseNet',
        depth=40,
        growth_rate=12,
        csr_layout='table2-csr-conv-5',
        csr_cell='ode'),
    head=dict(in_channels=456))
