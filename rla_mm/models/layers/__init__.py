"""Shared bricks: the RLA unit and blocks, ECA, and the recurrent conv layers
(CRC, CSR-Conv) and RC cells."""
from .crc import CRC, CRC_NONLINEARITIES
from .csr_conv import CSR_CELLS, CSRConv
from .csr_layout import (CSR_INIT_CFG, CSRCellInit, apply_csr_layout,
                         count_csr_convs, csr_conv_like)
from .eca import ECA
from .mrla import MRLA_RECURRENCES, MRLALight, mrla_kernel_size
from .rc import RC_BN_MODES, RCPreActBlock, StepNorms, pool_before_step
from .recurrent_module import RecurrentModule
from .rla import (RLA_UPDATES, PendingUpdate, RLABlockMixin, RLALayer,
                  RLAUnit, apply_pending_update, concat_hidden, hidden_of,
                  pool_hidden)
from .rla_cells import (RLA_CELLS, RLAConvGRUUnit, RLAConvLSTMUnit,
                        RLAPostActUnit, build_rla_unit, rla_cell_class)
from .rla_conv1 import (CONV1_PATHS, SPLIT_CONV1_CHOICES, check_split_conv1,
                        rla_conv1, uses_split_conv1, zeros_hidden)
from .rla_res_layer import (RLA_SOURCES, RLABasicBlock, RLABottleneck,
                            RLAResBlockMixin, RLAResLayer)

__all__ = [
    # RLA (Zhao et al., NeurIPS 2021)
    'ECA', 'RLAUnit', 'RLALayer', 'RLABlockMixin', 'PendingUpdate',
    'apply_pending_update', 'concat_hidden', 'pool_hidden', 'hidden_of',
    'RLA_UPDATES', 'RLA_CELLS', 'RLAPostActUnit', 'RLAConvLSTMUnit',
    'RLAConvGRUUnit', 'build_rla_unit', 'rla_cell_class', 'rla_conv1',
    'zeros_hidden', 'CONV1_PATHS', 'SPLIT_CONV1_CHOICES', 'check_split_conv1',
    'uses_split_conv1', 'RLABasicBlock', 'RLABottleneck', 'RLAResBlockMixin',
    'RLAResLayer', 'RLA_SOURCES',
    # MRLA-light (Fang et al., ICLR 2023)
    'MRLALight', 'MRLA_RECURRENCES', 'mrla_kernel_size',
    # RecNets (channel-wise recurrent convolution)
    'CRC', 'CRC_NONLINEARITIES', 'RecurrentModule',
    # channel-split recurrent convolution
    'CSRConv', 'CSR_CELLS', 'CSRCellInit', 'CSR_INIT_CFG', 'apply_csr_layout',
    'count_csr_convs', 'csr_conv_like',
    # recurrent convolution with independent BN
    'RC_BN_MODES', 'RCPreActBlock', 'StepNorms', 'pool_before_step'
]
