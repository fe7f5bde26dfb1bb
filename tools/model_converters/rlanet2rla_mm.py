"""Convert the RLA-Net (and MRLA) authors' checkpoints to rla_mm (mmengine)
checkpoints.

    python tools/model_converters/rlanet2rla_mm.py SRC DST [--model-type auto]
        [--family auto] [--arch ARCH] [--config CONFIG] [--force]

SRC: an ImageNet ``.pth.tar`` as released (RLA-ResNet-50/101/152,
RLA-ECANet-50/101, dsRLA-MobileNetV2 k=32 with/without ECA) or an
MMDetection 2.x detector checkpoint with an RLA backbone. DST: an mmpretrain
``ImageClassifier`` checkpoint (ImageNet sources) or an mmdet 3.x detector
checkpoint (detector sources), written atomically; its missing parent
directories are created. DST may not be SRC (that would replace the
original) unless ``--force``. ``--config`` additionally checks every key and
shape against the model of an rla_mm config (useful for detectors, whose
necks and heads are otherwise only carried over). The architecture is
detected from the keys, and so is the family of the file (the RLA-Net
authors' files, the MRLA authors' MRLA-light files: every family registered
in ``rla_mm.converters``); see docs/rla_checkpoints.md. Errors are one line
on stderr, exit status 1.

The authors' ablation variants (RLA paper Sec. 4.4, Table 11; one model file
each in their repository) convert too, to ``RLAResNet`` with the options
that compute them. Their ``train.py`` saves no ``arch``: where the keys tell
the variant (``resnet50_k``, ``rlarh``, ``rlaus``, ``rlav1p``, ``rlalstm``,
``rlagru``) it is detected; the main model and v1-v6 share their keys, so
such a file needs ``--arch`` with the authors' model function
(``rlav2_resnet50``...).
"""
import argparse
import sys

from rla_mm.converters import FAMILIES, convert_checkpoint, run_converter_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an RLA-Net (authors\') checkpoint to rla_mm')
    parser.add_argument('src', help='the authors\' checkpoint (.pth.tar/.pth)')
    parser.add_argument('dst', help='where to write the rla_mm checkpoint')
    parser.add_argument(
        '--model-type',
        default='auto',
        help='architecture of SRC within its family (RLA-Net: rla_resnet, '
        'rla_mobilenet_v2; default: detected from its keys)')
    parser.add_argument(
        '--family',
        default='auto',
        choices=('auto', *FAMILIES),
        help='whose file SRC is (default: detected from its keys)')
    parser.add_argument(
        '--arch',
        help='RLA-Net: the authors\' model function SRC was trained with '
        '(rla_resnet50, rlav1_resnet50 .. rlav6_resnet50, resnet50_k, ...), '
        'needed where the keys do not tell (v1-v6); default: SRC\'s own '
        'arch field, else the keys')
    parser.add_argument(
        '--config',
        help='also check the result key for key against this config\'s model')
    parser.add_argument(
        '--force',
        action='store_true',
        help='allow DST to be SRC itself (the original file is replaced)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    options = dict(arch=args.arch) if args.arch else {}
    return run_converter_cli(
        convert_checkpoint, args.src, args.dst, family=args.family,
        model_type=args.model_type, config=args.config, force=args.force,
        **options)


if __name__ == '__main__':
    sys.exit(main())
