# MRLA-light ResNet-50, ImageNet (MRLA paper, ICLR 2023: +1.6% top-1 over
# ResNet-50; 25,738,452 parameters, 4.139G multiply-adds at 224x224).
_base_ = './_base_/mrla-light-resnet_in1k.py'
