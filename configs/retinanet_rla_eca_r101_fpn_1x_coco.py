# RetinaNet, RLA-ECANet-101 + FPN, 1x (paper Table 4: box AP 41.5).
_base_ = './_base_/retinanet_rla_fpn_1x.py'
model = dict(
    backbone=dict(
        type='RLAECAResNet',
        depth=101,
        init_cfg=dict(checkpoint=_base_.rla_pretrained['eca_r101'])))
