from .eca import ECA
from .rla_res_layer import (RLA_SOURCES, RLABasicBlock, RLABottleneck,
                            RLAResLayer)
from .rla_unit import RLAUnit, pool_hidden

__all__ = [
    'ECA', 'RLAUnit', 'pool_hidden', 'RLABasicBlock', 'RLABottleneck',
    'RLAResLayer', 'RLA_SOURCES'
]
