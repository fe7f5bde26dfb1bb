from .csr_resnet import CSRResNet, CSRResNetCIFAR
from .csr_vgg import CSRVGG
from .mrla_resnet import MRLABasicBlock, MRLABottleneck, MRLAResNet
from .rc_base import AdjustableStepsMixin, BaseRCBackbone
from .rc_resnet import RCResNet
from .rcnet import RCNet
from .recnet import RECNET_ARCHS, RecNet
from .rla_mobilenet_v2 import RLAMobileNetV2
from .rla_resnet import RLAECAResNet, RLAResNet
from .rla_resnet_cifar import RLAResNetCIFAR

__all__ = [
    'MRLAResNet', 'MRLABasicBlock', 'MRLABottleneck',
    'RLAResNet', 'RLAECAResNet', 'RLAMobileNetV2', 'RLAResNetCIFAR', 'RecNet',
    'RECNET_ARCHS', 'CSRVGG', 'CSRResNet', 'CSRResNetCIFAR', 'RCNet',
    'RCResNet', 'AdjustableStepsMixin', 'BaseRCBackbone'
]
