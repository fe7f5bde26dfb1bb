# CIFAR-10 MobileNetV2 CSR-Conv-4 (CSR-Conv paper Table 2: 1.09M params, rho_M
# 51.4%, #C-C 18, T 3, top-1 error 5.84). The paper does not say which convs it
# converted and no simple layout reproduces the row; this is the rule that
# gives the ImageNet rows exactly (the last #C-C blocks of the notebook's
# network) at the row's T: all 17 blocks and the head conv at T = 3 (18
# modules): 1,060,042 params (docs/csr_conv.md).
_base_ = './_base_/csr_cifar10.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='CSRMobileNetV2CIFAR',
        csr_layout='table2-csr-conv-4',
        csr_cell='ode'),
    # the notebook leaves its CIFAR classifier at PyTorch's default init
    head=dict(in_channels=1280, init_cfg=None))
# the notebook's normalisation (ImageNet mean / std on RGB); its augmentation
# (flip + pad-4 random crop) is the base's
data_preprocessor = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
