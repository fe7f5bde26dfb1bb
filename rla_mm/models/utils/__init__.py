"""Helpers shared by every rla_mm model: argument checks."""
from .checks import (check_choice, check_concat_hidden, check_frozen_stages,
                     check_int,
                     check_int_sequence, check_odd_int,
                     check_odd_kernel_sizes, check_out_indices, check_renamed)

__all__ = [
    'check_choice', 'check_int', 'check_int_sequence', 'check_out_indices',
    'check_frozen_stages', 'check_odd_kernel_sizes', 'check_odd_int',
    'check_renamed', 'check_concat_hidden'
]
