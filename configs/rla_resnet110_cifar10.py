# CIFAR-10 RLA-ResNet-110 (pre-activation BasicBlocks 16/32/64, k = 4), RLA
# paper App. B.1 and Table 2 (ResNet-110 1.73M params + 0.07M; error 5.88).
# k = 4: the paper's value was lost in the text; 4 reproduces Table 2's +0.07M.
_base_ = './_base_/rla_resnet_cifar10.py'
