"""Write the embedded demo dataset: small COCO-format detection/instance data.

Deterministic (seeded), no download; the generator is
``rla_mm.testing.demo_data.make_demo_data`` (three shape categories with boxes
and polygon masks on varied backgrounds). Layout, as mmdet's COCO configs
expect::

    data/demo/
      annotations/instances_train.json, instances_val.json
      train/*.png  val/*.png

    python tools/misc/make_demo_data.py [--out data/demo] [--num-train 320]

``--out`` names the dataset folder itself, which is replaced as a whole: it
is written to a temp folder first and renamed into place, so an interrupted
run never leaves half a dataset behind.
"""
import argparse
import sys

from rla_mm.testing.demo_data import make_demo_data


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='data/demo',
                   help='dataset folder (replaced)')
    p.add_argument('--num-train', type=int, default=320)
    p.add_argument('--num-val', type=int, default=64)
    p.add_argument('--size', type=int, default=128, help='image side (px)')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    for name in ('num_train', 'num_val'):
        if getattr(args, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.size < 32:
        p.error('--size must be >= 32')
    return args


def main(argv=None):
    args = parse_args(argv)
    make_demo_data(args.out, args.num_train, args.num_val, args.size,
                   args.seed)
    print(f'demo data written to {args.out} ({args.num_train} train, '
          f'{args.num_val} val images of {args.size}x{args.size})')


if __name__ == '__main__':
    sys.exit(main())
