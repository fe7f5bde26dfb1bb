"""Write the classification demo dataset: a tiny ImageNet-style image folder.

Deterministic (seeded), no download. Four classes of 32x32 images, one shape
each (circle, square, triangle, cross) at a random position, size and colour
on a noisy random background, so a small CNN needs a few epochs to tell them
apart. Layout, as mmpretrain's ``CustomDataset`` reads it::

    data/demo_cls/
      train/<class>/*.png
      val/<class>/*.png

    python tools/misc/make_cls_demo_data.py [--out data/demo_cls]
        [--num-train 48] [--num-val 16]   (images per class)

The folder is written to a temp dir first and renamed into place, so an
interrupted run never leaves half a dataset behind.
"""
import argparse
import os
import os.path as osp
import shutil
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ('circle', 'square', 'triangle', 'cross')


def draw_image(rng: np.random.Generator, label: int, size: int) -> Image.Image:
    """One image of class ``label``."""
    bg = rng.integers(0, 256, 3)
    img = np.clip(bg + rng.normal(0, 30, (size, size, 3)), 0, 255)
    im = Image.fromarray(img.astype(np.uint8))
    draw = ImageDraw.Draw(im)
    r = rng.uniform(0.2, 0.35) * size
    cx, cy = rng.uniform(r, size - r, 2)
    # a colour far from the background, so the shape is always visible
    color = tuple(int(c) for c in (bg + 128 + rng.integers(-40, 40, 3)) % 256)
    name = CLASSES[label]
    if name == 'circle':
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif name == 'square':
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif name == 'triangle':
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)],
                     fill=color)
    else:
        w = max(1, int(r / 3))
        draw.line([(cx - r, cy), (cx + r, cy)], fill=color, width=w)
        draw.line([(cx, cy - r), (cx, cy + r)], fill=color, width=w)
    return im


def make_cls_demo_data(out_dir: str,
                       num_train: int = 48,
                       num_val: int = 16,
                       size: int = 32,
                       seed: int = 0) -> str:
    """Write the dataset to ``out_dir`` (replaced atomically)."""
    out_dir = osp.abspath(out_dir)
    parent = osp.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    rng = np.random.default_rng(seed)
    tmp = tempfile.mkdtemp(prefix='.demo_cls.', dir=parent)
    try:
        for split, num in (('train', num_train), ('val', num_val)):
            for label, name in enumerate(CLASSES):
                d = osp.join(tmp, split, name)
                os.makedirs(d)
                for i in range(num):
                    draw_image(rng, label, size).save(
                        osp.join(d, f'{i:04d}.png'))
        if osp.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='data/demo_cls', help='output folder')
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
