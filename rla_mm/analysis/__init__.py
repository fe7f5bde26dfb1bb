"""What rla_mm's analysis tools share (``tools/analysis_tools``,
``tools/image_demo.py``): building models to measure, synthetic steps,
interleaved timing, memory peaks, the authors' forward as a baseline,
inference on one image, and the ``--out-dir`` convention.

The submodules import heavy libraries (mmdet, mmpretrain) only when used;
import them directly, e.g. ``from rla_mm.analysis.build import
build_backbone``.

- ``build``: a model from a config file or a backbone dict, random weights.
- ``steps``: synthetic inputs, one inference / training step, BN-mode check.
- ``timing``: interleaved timing robust to a shared CPU.
- ``memory``: peak tensor memory of a step (CPU and CUDA).
- ``authors``: the authors' RLA-ResNet forward on an rla_mm model's weights.
- ``inference``: input checks and mmdet / mmpretrain inferencers.
- ``hidden_state``: records the RLA hidden state h of a backbone.
- ``parts``: attributes profiled ops to the parts of an RLA backbone.
- ``outputs``: ``--out-dir DIR`` and the deprecated single-file flags.
"""
