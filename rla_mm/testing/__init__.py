"""Plain reference implementations, for tests and benchmarks.

Each module here is written straight from a paper or from the authors' code
and reads the weights of an rla_mm model but none of its code, so that tests
(and ``tools/analysis_tools``) can compare rla_mm's fast paths against them:

- ``reference_rla``: RLA-ResNet forward from the RLA paper (Sec. 3.3, Eq. 11).
- ``authors_rlanet``: a port of the authors' RLA-ResNet / dsRLA-MobileNetV2
  under their own module names (their checkpoints load into it as saved).
- ``authors_rla_variants``: the same for the authors' ImageNet ablation
  variants (RLA paper Sec. 4.4, Table 11), ``build_authors_variant(arch)``.
- ``authors_mrla``: the same for the MRLA authors' MRLA-light ResNet (MRLA
  paper, ICLR 2023, Eq. 8 as their code computes it).
- ``reference_crc``: CRC (RecNets Eq. 3) and CSR-Conv loops.
- ``authors_csr``: a plain port of the CSR-Conv authors' notebook (its cell
  ``Seq_CNN`` and its CIFAR-10 / ImageNet MobileNetV2s, their names) and
  ``copy_weights`` between it and rla_mm models.
- ``reference_rc``: RCNet / RCResNet forward from the state dict.
"""
