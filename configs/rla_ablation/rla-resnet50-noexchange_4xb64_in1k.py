# Table 11 (c): RLA-v1 without the information flow from RLA to the main CNN
# (paper: 24.56M, 4.11G, 23.42 / 6.90): conv1 reads x only, h reaches only
# the classifier (the authors' resnet_rla_rh.py).
_base_ = '../_base_/rla_resnet_imagenet.py'  # RLA-ResNet-50's recipe
model = dict(backbone=dict(rla_exchange=False))
