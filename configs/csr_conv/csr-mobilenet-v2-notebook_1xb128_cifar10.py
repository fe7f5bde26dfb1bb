# The CSR-Conv authors' CIFAR-10 model (their notebook, RNN-MobileNet.ipynb):
# every block's expansion conv a T = 3 cell and its projection a T = 4 cell
# (34 cells, their cell 'ode'): 1,182,272 params, 47.17% fewer than the plain
# network, as the notebook prints. It is no row of CSR-Conv paper Table 2
# (CSR-Conv-3: 1.25M / 44.1%, CSR-Conv-4: 1.09M / 51.4%).
# Notebook recipe: batch 128, SGD lr 0.05, momentum 0.9, wd 5e-4, lr halved
# every 30 epochs (its 600-epoch loop was interrupted; 300 here as in the
# other CSR CIFAR configs).
_base_ = './_base_/csr_cifar10.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='CSRMobileNetV2CIFAR',
        csr_layout='notebook',
        csr_cell='ode'),
    # the notebook leaves its CIFAR classifier at PyTorch's default init
    head=dict(in_channels=1280, init_cfg=None))
# the notebook's normalisation (ImageNet mean / std on RGB); its augmentation
# (flip + pad-4 random crop) is the base's
data_preprocessor = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
