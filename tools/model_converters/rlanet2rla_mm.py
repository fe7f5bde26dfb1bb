"""Convert the RLA-Net authors' checkpoints to rla_mm (mmengine) checkpoints.

    python tools/model_converters/rlanet2rla_mm.py SRC DST [--model-type auto]
        [--config CONFIG]

SRC: an ImageNet ``.pth.tar`` as released (RLA-ResNet-50/101/152,
RLA-ECANet-50/101, dsRLA-MobileNetV2 k=32 with/without ECA) or an
MMDetection 2.x detector checkpoint with an RLA backbone. DST: an mmpretrain
``ImageClassifier`` checkpoint (ImageNet sources) or an mmdet 3.x detector
checkpoint (detector sources), written atomically. ``--config`` additionally
checks every key and shape against the model of an rla_mm config (useful for
detectors, whose necks and heads are otherwise only carried over). The
architecture is detected from the keys; see docs/rla_checkpoints.md.
"""
import argparse
import sys

from rla_mm.utils.rlanet_convert import MODEL_TYPES, convert_rlanet_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an RLA-Net (authors\') checkpoint to rla_mm')
    parser.add_argument('src', help='the authors\' checkpoint (.pth.tar/.pth)')
    parser.add_argument('dst', help='where to write the rla_mm checkpoint')
    parser.add_argument(
        '--model-type',
        default='auto',
        choices=MODEL_TYPES,
        help='architecture of SRC (default: detected from its keys)')
    parser.add_argument(
        '--config',
        help='also check the result key for key against this config\'s model')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        ckpt = convert_rlanet_checkpoint(
            args.src, args.dst, model_type=args.model_type,
            config=args.config)
    except (FileNotFoundError, KeyError, ValueError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f'error: {msg}', file=sys.stderr)
        return 1
    meta = ckpt['meta']
    print(f'converted {args.src} ({meta["source_format"]}, '
          f'{len(ckpt["state_dict"])} tensors) -> {args.dst}')
    print(f'backbone: {meta["backbone"]}')
    if 'head' in meta:
        print(f'head: {meta["head"]}')
    if meta.get('dropped_keys'):
        print(f'dropped (not built in detection mode): '
              f'{", ".join(meta["dropped_keys"])}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
