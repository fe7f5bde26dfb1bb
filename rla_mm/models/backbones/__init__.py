from .csr_densenet import CSRDenseNet
from .csr_efficientnet import CSREfficientNet
from .csr_mobilenet_v2 import CSRMobileNetV2, CSRMobileNetV2CIFAR
from .csr_resnet import CSRResNet, CSRResNetCIFAR
from .csr_vgg import CSRVGG
from .mrla_resnet import MRLABasicBlock, MRLABottleneck, MRLAResNet
from .rc_base import AdjustableStepsMixin, BaseRCBackbone
from .rc_resnet import RCResNet
from .rcnet import RCNet
from .recnet import RECNET_ARCHS, RecNet
from .rla_mobilenet_v2 import RLAMobileNetV2
from .rla_resnet import RLAECAResNet, RLAResNet, WidenedResNet
from .rla_resnet_cifar import PreActResNetCIFAR, RLAResNetCIFAR
from .rla_xception import RLAXceptionCIFAR, XceptionCIFAR

__all__ = [
    'MRLAResNet', 'MRLABasicBlock', 'MRLABottleneck',
    'RLAResNet', 'RLAECAResNet', 'RLAMobileNetV2', 'RLAResNetCIFAR', 'RecNet',
    'WidenedResNet', 'PreActResNetCIFAR',
    'RLAXceptionCIFAR', 'XceptionCIFAR',
    'RECNET_ARCHS', 'CSRVGG', 'CSRResNet', 'CSRResNetCIFAR', 'RCNet',
    'CSRMobileNetV2', 'CSRMobileNetV2CIFAR', 'CSREfficientNet',
    'CSRDenseNet',
    'RCResNet', 'AdjustableStepsMixin', 'BaseRCBackbone'
]
