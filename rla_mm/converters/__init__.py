"""Conversion of foreign checkpoints into rla_mm (mmengine) checkpoints.

This package sits above :mod:`rla_mm.models` in the import graph (it builds
the target models to check names and shapes); models never import it.

Layout:

- :mod:`.common`: what every family shares: the weights-only load
  (``load_weights_only``), the format dispatch (``register_family``,
  ``detect_family``, ``convert_checkpoint``), the key/shape checks against
  the target model (``check_and_fill``, ``verify_against_config``), the
  destination checks (``check_destination``: DST is not SRC, is a writable
  file path) and the atomic save (``save_checkpoint``).
- :mod:`.rlanet`: the RLA-Net authors' files (Zhao, Fang and Li,
  *Recurrence along Depth: Deep Convolutional Neural Networks with Recurrent
  Layer Aggregation*, NeurIPS 2021, arXiv:2110.11852): the key mapping of
  RLA-ResNet / RLA-ECANet / dsRLA-MobileNetV2.

Plugging in another family (e.g. ``mrla.py`` for the MRLA authors' files):

1. write ``rla_mm/converters/<family>.py`` with a
   ``convert(src, dst=None, force=False, **options) -> dict`` that starts
   with ``check_destination(src, dst, force)``, reads SRC with
   ``load_weights_only``, maps the keys, checks them with ``check_and_fill``
   against ``build_target(cfg)`` and ends with ``save_checkpoint(out, dst)``
   (returning ``dict(state_dict=..., meta=...)``);
2. give it a ``detect(state_dict) -> bool`` that recognises the family's
   keys (state dict without ``module.``; detector files keep
   ``backbone.``) and is False for every other family and for rla_mm's own
   checkpoints;
3. at the end of the module call ``register_family(CheckpointFamily(name,
   description, detect, convert, command))`` and import the module below.

``convert_checkpoint(src, dst)`` then dispatches to it, and
:mod:`rla_mm.engine.checkpoint_check` names ``command`` when a config's
``init_cfg=dict(type='Pretrained')`` points at an unconverted file of the
family.
"""
from . import mrla, rlanet  # noqa: F401  (register their families)
from .common import (FAMILIES, CheckpointFamily, check_destination,
                     convert_checkpoint, detect_family, load_weights_only,
                     register_family, run_converter_cli)
from .rlanet import MODEL_TYPES, convert_rlanet_checkpoint

__all__ = [
    'FAMILIES', 'CheckpointFamily', 'MODEL_TYPES', 'check_destination',
    'convert_checkpoint', 'convert_rlanet_checkpoint', 'detect_family',
    'load_weights_only', 'register_family', 'run_converter_cli'
]
