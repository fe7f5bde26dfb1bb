# Plain ImageNet MobileNetV2 1.0x, the baseline of CSR-Conv paper Table 2
# (3.50M params, top-1 error 27.80): mmpretrain's MobileNetV2 as
# CSRMobileNetV2 without CSR-Convs (3,504,872 params with the 1000-way head,
# as the authors' notebook prints), trained with the paper's recipe.
_base_ = './_base_/csr_imagenet.py'
