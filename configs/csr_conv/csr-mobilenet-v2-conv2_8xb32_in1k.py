# ImageNet MobileNetV2 CSR-Conv-2 (CSR-Conv paper Table 2: 2.47M params,
# rho_M 29.5%, #C-C 12, T 4, top-1 error 29.45; Table 3 "Ours-1", 2.5M): the
# authors' notebook model exactly, blocks 6-17 with a T = 3 expansion cell
# and a T = 4 projection cell each (their cell 'ode'): 2,469,080 params.
_base_ = './_base_/csr_imagenet.py'
model = dict(backbone=dict(csr_layout='csr-conv-2', csr_cell='ode'))
