# DenseNet-40 CSR-Conv-3 (CSR-Conv paper Table 2: 0.53M params, rho_M 50.3%,
# #C-C 22, T 3, top-1 error 5.09). The paper does not say which convs it
# converted and no simple rule reproduces the row: the last 10 / 0 / 12 dense
# convs of blocks 1 / 2 / 3 at T = 3 (22 cells) is our closest layout of that
# form (docs/csr_conv.md), not the authors'.
_base_ = './_base_/csr_cifar10.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='CSRDenseNet',
        depth=40,
        growth_rate=12,
        csr_layout='table2-csr-conv-3',
        csr_cell='ode'),
    head=dict(in_channels=456))
