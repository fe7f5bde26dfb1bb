# MRLA-light ResNet on ImageNet, the authors' recipe (MRLA paper, Fang et
# al., ICLR 2023, Sec. 4; their train.py): SGD momentum 0.9, lr 0.1, weight
# decay 1e-4 on all parameters, total batch 256 (8 GPUs x 32), 100 epochs,
# 3 warm-up epochs, then lr x0.1 every 30 epochs (stepped per epoch),
# DropPath 0.2 on the MRLA branch of every block, RandomResizedCrop 224 +
# flip; test: resize 256, center crop 224. Depth 50 here; the configs beside
# this folder pick the model.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='MRLAResNet',
        depth=50,
        recurrence='shortcut',  # the authors' code
        mrla_head_dim=32,
        drop_path_rate=0.2,
        out_indices=(3, ),
        norm_eval=False,
        # the authors' code zero-initialises each bottleneck's last BN
        zero_init_residual=True),
    head=dict(in_channels=2048))

train_dataloader = dict(batch_size=32)
val_dataloader = dict(batch_size=32)
test_dataloader = dict(batch_size=32)

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
# The authors step the warm-up per epoch (lr 1e-4, then 1/3 and 2/3 of 0.1);
# here it rises linearly per iteration from 1e-4 to 0.1 over the 3 epochs.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90],
         gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
# the authors report the best validation epoch
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2,
                    save_best='auto'))
auto_scale_lr = dict(base_batch_size=256)
