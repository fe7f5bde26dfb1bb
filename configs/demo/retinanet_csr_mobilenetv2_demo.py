# A lightweight detector with CSR-Convs on the embedded demo data, CPU, from
# scratch in minutes: RetinaNet + FPN on CSRMobileNetV2 with the CSR-Conv
# paper's CSR-Conv-2 layout (the authors' notebook cells 'ode' in blocks 6-17;
# CSR-Conv paper Table 2 / Table 3 "Ours-1"), at width 0.5 (the paper's
# network is 1.0: drop `widen_factor` and use in_channels=[32, 96, 320]) and
# 128x128 images.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/default_runtime.py',
    './_base_demo_data.py',
]
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

fpn_channels = 64
model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(
        _delete_=True,
        type='CSRMobileNetV2',
        csr_layout='csr-conv-2',
        csr_cell='ode',
        widen_factor=0.5,
        # layer3 / 5 / 7 outputs: strides 8 / 16 / 32, 16 / 48 / 160
        # channels; nothing after layer7 is built
        out_indices=(2, 4, 6),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False),  # from scratch: its default init, no download
    neck=dict(
        in_channels=[16, 48, 160],
        out_channels=fpn_channels,
        start_level=0,
        num_outs=5),
    bbox_head=dict(
        num_classes=3,
        in_channels=fpn_channels,
        feat_channels=fpn_channels,
        stacked_convs=2,
        # the demo's objects are 15-53 px: anchors from 16 px at stride 8
        anchor_generator=dict(
            octave_base_scale=2, strides=[8, 16, 32, 64, 128])),
    test_cfg=dict(nms_pre=300, max_per_img=20))

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
    checkpoint=dict(type='CheckpointHook', interval=6, max_keep_ckpts=2))
log_processor = dict(window_size=10)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
