# Plain CIFAR-10 MobileNetV2 of the CSR-Conv authors' notebook (stem stride
# 1, strides at 32 -> 64 and 96 -> 160 only, an expansion conv in the t = 1
# block), the baseline of CSR-Conv paper Table 2 (2.24M params, top-1 error
# 5.53): 2,237,770 params, the denominator the notebook prints its rate with.
_base_ = './_base_/csr_cifar10.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='CSRMobileNetV2CIFAR',
        csr_layout=None,
        csr_cell='ode'),
    # the notebook leaves its CIFAR classifier at PyTorch's default init
    head=dict(in_channels=1280, init_cfg=None))
# the notebook's normalisation (ImageNet mean / std on RGB); its augmentation
# (flip + pad-4 random crop) is the base's
data_preprocessor = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
