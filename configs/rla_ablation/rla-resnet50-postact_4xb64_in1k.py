# Table 11 (e): post-activated RLA, Conv-BN-tanh (paper: 24.67M, 4.17G,
# 23.11 / 6.65); the authors' resnet_rla_v1post.py (no head BN).
_base_ = '../_base_/rla_resnet_imagenet.py'  # RLA-ResNet-50's recipe
model = dict(backbone=dict(rla_cell='postact'))
