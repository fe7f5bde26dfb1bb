"""Training-loop extensions of rla_mm (hooks), registered in mmengine's root
``HOOKS`` registry so that mmdet and mmpretrain configs can name them."""
from .hooks import *  # noqa: F401,F403
from .hooks import __all__  # noqa: F401
