from .rla_resnet import RLAECAResNet, RLAResNet

__all__ = ['RLAResNet', 'RLAECAResNet']
