# EfficientNet-B0 CSR-Conv-2 (CSR-Conv paper Table 2: 3.89M params, rho_M
# 26.3%, #C-C 4, T 5, top-1 error 27.59). No layout of 1x1 convs reaches the
# row; the rule of the MobileNet-V2 rows (the last 4 blocks, expansion and
# projection convs as T = 5 cells) gives 3,671,586 params (docs/csr_conv.md).
_base_ = './_base_/csr_imagenet.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='CSREfficientNet',
        arch='b0',
        csr_layout='table2-csr-conv-2',
        csr_cell='ode'))
