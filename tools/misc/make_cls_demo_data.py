"""Write the classification demo dataset: a tiny ImageNet-style image folder.

Deterministic (seeded), no download; the generator is
``rla_mm.testing.demo_data.make_cls_demo_data`` (four classes of 32x32
images, one shape each: circle, square, triangle, cross). Layout, as
mmpretrain's ``CustomDataset`` reads it::

    data/demo_cls/
      train/<class>/*.png
      val/<class>/*.png

    python tools/misc/make_cls_demo_data.py [--out data/demo_cls]
        [--num-train 48] [--num-val 16]   (images per class)

``--out`` names the dataset folder itself, which is replaced as a whole: it
is written to a temp folder first and renamed into place, so an interrupted
run never leaves half a dataset behind.
"""
import argparse
import sys

from rla_mm.testing.demo_data import CLASSES, make_cls_demo_data


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='data/demo_cls',
                   help='dataset folder (replaced)')
    p.add_argument('--num-train', type=int, default=48,
                   help='training images per class')
    p.add_argument('--num-val', type=int, default=16,
                   help='validation images per class')
    p.add_argument('--size', type=int, default=32, help='image side (px)')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    for name in ('num_train', 'num_val', 'size'):
        if getattr(args, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.size < 16:
        p.error('--size must be >= 16')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    out = make_cls_demo_data(args.out, args.num_train, args.num_val,
                             args.size, args.seed)
    n = len(CLASSES)
    print(f'wrote {n * args.num_train} training and {n * args.num_val} '
          f'validation images ({n} classes: {", ".join(CLASSES)}) to {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
