# Plain EfficientNet-B0, the baseline of CSR-Conv paper Table 2 (5.28M
# params, top-1 error 22.90): mmpretrain's EfficientNet 'b0' as
# CSREfficientNet without CSR-Convs, 1280 -> 1000 head: 5,288,548 params.
# The paper's recipe (not EfficientNet's own), 224 x 224 crops.
_base_ = './_base_/csr_imagenet.py'
model = dict(backbone=dict(_delete_=True, type='CSREfficientNet', arch='b0'))
