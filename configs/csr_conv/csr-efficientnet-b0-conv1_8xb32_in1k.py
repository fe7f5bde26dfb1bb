# EfficientNet-B0 CSR-Conv-1 (CSR-Conv paper Table 2: 4.28M params, rho_M
# 18.9%, #C-C 3, T 3, top-1 error 22.34; Table 3 "Ours-3", 4.3M). The authors
# released no EfficientNet code and no layout of 1x1 convs reaches the row;
# this applies the rule of the MobileNet-V2 rows (the last 3 blocks, their
# expansion and projection convs as T = 3 cells): 4,439,977 params
# (docs/csr_conv.md).
_base_ = './_base_/csr_imagenet.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='CSREfficientNet',
        arch='b0',
        csr_layout='table2-csr-conv-1',
        csr_cell='ode'))
