"""Classification heads that rla_mm's configs need beyond mmpretrain's."""
from .dropout_linear_head import DropoutLinearClsHead

__all__ = ['DropoutLinearClsHead']
