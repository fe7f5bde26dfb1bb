# The README's main job (`make demo`): a Faster R-CNN with an RLA backbone,
# trained from scratch on the embedded demo data on a 2-core CPU in minutes,
# evaluated with the real CocoMetric (pycocotools).
# A narrow RLA-ResNet-18 (base width 16, k = 16) + FPN at 128x128.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    'mmdet::_base_/default_runtime.py',
    './_base_demo_data.py',
]
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

fpn_channels = 64
model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(
        _delete_=True,
        type='RLAResNet',
        depth=18,
        base_channels=16,
        rla_channel=16,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),  # from scratch: no download, no pretrained file
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=fpn_channels),
    rpn_head=dict(
        in_channels=fpn_channels,
        feat_channels=fpn_channels,
        anchor_generator=dict(scales=[4], strides=[4, 8, 16, 32, 64])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=fpn_channels),
        bbox_head=dict(
            in_channels=fpn_channels, fc_out_channels=256, num_classes=3)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(max_per_img=20)))

max_epochs = 12
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=6)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=2e-5,
         by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True)
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=6, max_keep_ckpts=2),
    visualization=dict(type='DetVisualizationHook', score_thr=0.5))
log_processor = dict(window_size=10)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
