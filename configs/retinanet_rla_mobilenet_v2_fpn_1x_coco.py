# RetinaNet + FPN with an RLA-MobileNetV2 backbone (RLA paper App. B.2.1; the
# paper's detection results are for RLA-ResNets, this config applies the same
# 1x recipe, see ./_base_/retinanet_rla_fpn_1x.py). FPN reads the outputs of
# layer3/layer5/layer7 (32/96/320 channels, strides 8/16/32); h is not fed to
# the FPN (Sec. 3.3 item 4), so the last h update and conv2 are not built.
# ImageNet weights: `python tools/model_converters/rlanet2rla_mm.py
# dsrla_mobilenetv2_k32.pth.tar checkpoints/rla_mobilenet_v2_in1k.pth`.
_base_ = './_base_/retinanet_rla_fpn_1x.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='RLAMobileNetV2',
        widen_factor=1.0,
        rla_channel=32,
        rla_source='residual',  # as the converted checkpoint's meta says
        concat_hidden=False,
        out_indices=(2, 4, 6),
        frozen_stages=1,  # stem + layer1 (all of RLA stage 0)
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/rla_mobilenet_v2_in1k.pth',
            prefix='backbone.')),
    neck=dict(
        in_channels=[32, 96, 320],
        start_level=0,
        add_extra_convs='on_input',
        num_outs=5))
