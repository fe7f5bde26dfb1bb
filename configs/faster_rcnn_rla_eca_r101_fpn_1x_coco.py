# Faster R-CNN, RLA-ECANet-101 + FPN, 1x (paper Table 4: box AP 42.1).
_base_ = './_base_/faster_rcnn_rla_fpn_1x.py'
model = dict(
    backbone=dict(
        type='RLAECAResNet',
        depth=101,
        init_cfg=dict(checkpoint=_base_.rla_pretrained['eca_r101'])))
