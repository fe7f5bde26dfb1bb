# Faster R-CNN, RLA-ECANet-50 + FPN, 1x (paper Table 4: box AP 39.8).
_base_ = './_base_/faster_rcnn_rla_fpn_1x.py'
model = dict(
    backbone=dict(
        type='RLAECAResNet',
        depth=50,
        init_cfg=dict(checkpoint=_base_.rla_pretrained['eca_r50'])))
