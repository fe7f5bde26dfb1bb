# RetinaNet, RLA-ECANet-50 + FPN, 1x (paper Table 4: box AP 38.9).
_base_ = './_base_/retinanet_rla_fpn_1x.py'
model = dict(
    backbone=dict(
        type='RLAECAResNet',
        depth=50,
        init_cfg=dict(checkpoint=_base_.rla_pretrained['eca_r50'])))
