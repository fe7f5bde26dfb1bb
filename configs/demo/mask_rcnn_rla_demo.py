# Mask R-CNN with an RLA backbone on the embedded demo data (boxes and
# polygon masks), evaluated for bbox and segm with CocoMetric.
_base_ = './faster_rcnn_rla_demo.py'

model = dict(
    roi_head=dict(
        type='StandardRoIHead',
        mask_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
            out_channels=_base_.fpn_channels,
            featmap_strides=[4, 8, 16, 32]),
        mask_head=dict(
            type='FCNMaskHead',
            num_convs=2,
            in_channels=_base_.fpn_channels,
            conv_out_channels=_base_.fpn_channels,
            num_classes=3,
            loss_mask=dict(
                type='CrossEntropyLoss', use_mask=True, loss_weight=1.0))),
    train_cfg=dict(rcnn=dict(mask_size=28)),
    test_cfg=dict(rcnn=dict(mask_thr_binary=0.5)))

train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
        dict(type='Resize', scale=_base_.img_scale, keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs')
    ]))
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = val_evaluator
