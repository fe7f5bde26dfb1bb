# The RLA authors' ImageNet data pipelines (RLA paper App. B.2.1; their
# train.py uses torchvision's transforms on PIL images) in mmpretrain's terms:
# decode with PIL and resize with PIL's bilinear filter (mmcv's default is
# cv2, whose resize gives other pixels), so that converted weights are
# evaluated as they were trained. Train: RandomResizedCrop 224 + horizontal
# flip; test: resize the short side to 256, center crop 224.
# Named apart from mmpretrain's `train_pipeline` / `test_pipeline`, so that
# this file can sit beside an mmpretrain dataset base in `_base_`; a config
# takes them as `_base_.authors_train_pipeline` / `.authors_test_pipeline`.
authors_train_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow',
         interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
authors_test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
         interpolation='bilinear'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
