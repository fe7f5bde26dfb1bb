# What every RLA detection config shares (RLA paper Sec. 4.3, App. B.3).
# Only new names here, so it can sit beside an mmdet:: config in `_base_`.
custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)

# ImageNet weights converted from the authors' release with
#   python tools/model_converters/rlanet2rla_mm.py SRC.pth.tar DST.pth
# Override with --cfg-options model.backbone.init_cfg.checkpoint=PATH.
rla_pretrained = dict(
    r50='checkpoints/rla_resnet50_in1k.pth',
    r101='checkpoints/rla_resnet101_in1k.pth',
    eca_r50='checkpoints/rla_eca_resnet50_in1k.pth',
    eca_r101='checkpoints/rla_eca_resnet101_in1k.pth')

rla_backbone = dict(
    _delete_=True,
    type='RLAResNet',
    depth=50,
    rla_channel=32,
    # the authors' block (y = block output): what their weights were trained
    # with and what the paper's numbers came from
    rla_source='output',
    # the paper does not feed h to the FPN (Sec. 4.3)
    concat_hidden=False,
    num_stages=4,
    out_indices=(0, 1, 2, 3),
    frozen_stages=1,
    norm_cfg=dict(type='BN', requires_grad=True),
    norm_eval=True,
    style='pytorch',
    init_cfg=dict(
        type='Pretrained', checkpoint=rla_pretrained['r50'],
        prefix='backbone.'))
