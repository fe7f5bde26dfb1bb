# Table 11 (a): ResNet-50 with every stage 32 channels wider and no RLA
# (paper: 25.55M, 4.24G, 23.54 / 6.72); the authors' resnet_k.py (planes + 8:
# widths 72/136/264/520, outputs 288/544/1056/2080).
_base_ = '../_base_/rla_resnet_imagenet.py'  # RLA-ResNet-50's recipe
model = dict(
    backbone=dict(
        _delete_=True,
        type='WidenedResNet',
        depth=50,
        extra_channels=32,
        out_indices=(3, ),
        zero_init_residual=True),
    head=dict(in_channels=2048 + 32))
