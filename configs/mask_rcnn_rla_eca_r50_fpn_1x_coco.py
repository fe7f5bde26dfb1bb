# Mask R-CNN, RLA-ECANet-50 + FPN, 1x (paper Table 5: box AP 40.6, mask AP 36.5).
_base_ = './_base_/mask_rcnn_rla_fpn_1x.py'
model = dict(
    backbone=dict(
        type='RLAECAResNet',
        depth=50,
        init_cfg=dict(checkpoint=_base_.rla_pretrained['eca_r50'])))
