# RetinaNet, RLA-ResNet-101 + FPN, 1x (paper Table 4: box AP 40.3).
_base_ = './_base_/retinanet_rla_fpn_1x.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint=_base_.rla_pretrained['r101'])))
