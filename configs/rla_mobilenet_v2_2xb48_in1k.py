# RLA-MobileNetV2 (dsRLA, k = 32) on ImageNet, RLA paper App. B.2.1 and
# Table 3 (3.46M params, 351.8M FLOPs, top-1 / top-5 error 27.68 / 9.18),
# "following the settings in [43]" (MobileNetV2): SGD momentum 0.9, weight
# decay 4e-5, total batch 96 (2 GPUs x 48), 400 epochs, lr 0.045 multiplied
# by 0.98 after every epoch; RandomResizedCrop 224 + flip, test: resize short
# side 256, center crop 224, decoded and resized with PIL as the authors'
# torchvision pipeline does; classifier Dropout(0.2) + linear (the authors'
# `classifier`, MobileNetV2's).
_base_ = [
    'mmpretrain::_base_/models/mobilenet_v2_1x.py',
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_epochstep.py',
    'mmpretrain::_base_/default_runtime.py',
    './_base_/imagenet_authors_pipelines.py',
]
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='RLAMobileNetV2',
        widen_factor=1.0,
        rla_channel=32,
        out_indices=(7, ),
        concat_hidden=True,  # conv2 reads cat(x, ReLU6(BN(h)))
        # y = the block's branch output (paper Fig. 3); see
        # docs/rla_checkpoints.md for the authors' weights
        rla_source='residual'),
    # LinearClsHead + nn.Dropout: the state dict keeps head.fc.weight/bias,
    # where the converter puts the authors' classifier.1.*
    head=dict(type='DropoutLinearClsHead', in_channels=1280,
              dropout_rate=0.2))

train_pipeline = _base_.authors_train_pipeline  # PIL, as the authors
test_pipeline = _base_.authors_test_pipeline
train_dataloader = dict(batch_size=48, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=48, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(batch_size=48, dataset=dict(pipeline=test_pipeline))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.045, momentum=0.9, weight_decay=4e-5))
param_scheduler = dict(type='StepLR', by_epoch=True, step_size=1, gamma=0.98)
train_cfg = dict(by_epoch=True, max_epochs=400, val_interval=1)
auto_scale_lr = dict(base_batch_size=96)
