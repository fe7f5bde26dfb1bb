# What every MRLA-light COCO 1x config shares (MRLA paper, Fang et al.,
# ICLR 2023, Sec. 4; the authors' MMDetection 2.x configs): FPN detectors,
# 12 epochs, lr steps at 8 and 11, SGD momentum 0.9, weight decay 1e-4, total
# batch 16 (8 GPUs x 2 images), linear warm-up over 500 iterations,
# 1333x800 + flip -- all as the mmdet:: base configs beside this one in
# `_base_` already set them. Only new names here.
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

# ImageNet weights: the authors publish none. Train one with
# configs/mrla/mrla-light-resnet50_8xb32_in1k.py, or convert a file made with
# their code:
#   python tools/model_converters/rlanet2rla_mm.py SRC.pth.tar DST.pth
# Override with --cfg-options model.backbone.init_cfg.checkpoint=PATH.
mrla_pretrained = dict(
    r50='checkpoints/mrla_light_resnet50_in1k.pth',
    r101='checkpoints/mrla_light_resnet101_in1k.pth')

mrla_backbone = dict(
    _delete_=True,
    type='MRLAResNet',
    depth=50,
    # the authors' code: O^{t-1} is the block's shortcut
    recurrence='shortcut',
    mrla_head_dim=32,
    drop_path_rate=0.,  # the authors' detection backbone has no DropPath
    num_stages=4,
    out_indices=(0, 1, 2, 3),
    frozen_stages=1,
    norm_cfg=dict(type='BN', requires_grad=True),
    norm_eval=True,
    style='pytorch',
    init_cfg=dict(
        type='Pretrained', checkpoint=mrla_pretrained['r50'],
        prefix='backbone.'))
