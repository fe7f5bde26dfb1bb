"""Shared bricks: the RLA unit and blocks, ECA, and the recurrent conv layers
(CRC, CSR-Conv) and RC cells."""
from .crc import CRC, CRC_NONLINEARITIES, RecurrentModule
from .csr_conv import CSR_CELLS, CSRConv
from .eca import ECA
from .rc import (RC_BN_MODES, AdjustableStepsMixin, BaseRCBackbone,
                 RCPreActBlock, StepNorms, pool_before_step)
from .rla_conv1 import (SPLIT_CONV1_CHOICES, check_split_conv1,
                        uses_split_conv1)
from .rla_res_layer import (RLA_SOURCES, RLABasicBlock, RLABottleneck,
                            RLAResLayer)
from .rla_unit import RLAUnit, pool_hidden

__all__ = [
    # RLA (Zhao et al., NeurIPS 2021)
    'ECA', 'RLAUnit', 'pool_hidden', 'RLABasicBlock', 'RLABottleneck',
    'RLAResLayer', 'RLA_SOURCES', 'SPLIT_CONV1_CHOICES', 'check_split_conv1',
    'uses_split_conv1',
    # RecNets (channel-wise recurrent convolution)
    'CRC', 'CRC_NONLINEARITIES', 'RecurrentModule',
    # channel-split recurrent convolution
    'CSRConv', 'CSR_CELLS',
    # recurrent convolution with independent BN
    'RC_BN_MODES', 'AdjustableStepsMixin', 'BaseRCBackbone', 'RCPreActBlock',
    'StepNorms', 'pool_before_step'
]
