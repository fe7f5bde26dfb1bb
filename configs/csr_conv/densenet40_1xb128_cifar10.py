# Plain DenseNet-40 (Huang et al., k = 12, three dense blocks, not BC), the
# baseline of CSR-Conv paper Table 2 (1.06M params, top-1 error 5.19):
# 1,059,298 params with the 456 -> 10 head.
_base_ = './_base_/csr_cifar10.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='CSRDenseNet',
        depth=40,
        growth_rate=12,
        csr_layout=None,
        csr_cell='ode'),
    head=dict(in_channels=456))
