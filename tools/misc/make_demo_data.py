"""Write the embedded demo dataset: small COCO-format detection/instance data.

Deterministic (seeded), no download. Three shape categories (circle, square,
triangle) with boxes and polygon masks, drawn on varied backgrounds
(gradients, noise, stripes, checkerboards). Layout, as mmdet's COCO configs
expect::

    data/demo/
      annotations/instances_train.json, instances_val.json
      train/*.png  val/*.png

    python tools/misc/make_demo_data.py [--out data/demo] [--num-train 320]

The whole folder is written to a temp dir first and renamed into place, so an
interrupted run never leaves half a dataset behind.
"""
import argparse
import json
import math
import os
import os.path as osp
import shutil
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw

CATEGORIES = ('circle', 'square', 'triangle')


def _background(rng, size):
    h = w = size
    kind = rng.integers(4)
    c1, c2 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    if kind == 0:  # linear gradient at a random angle
        a = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:h, 0:w] / size
        t = (np.cos(a) * xx + np.sin(a) * yy)
        t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
        img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    elif kind == 1:  # smooth noise
        small = rng.integers(0, 256, (6, 6, 3)).astype(np.uint8)
        img = np.asarray(
            Image.fromarray(small).resize((w, h), Image.BICUBIC), np.float64)
    elif kind == 2:  # stripes
        period = rng.integers(6, 20)
        yy, xx = np.mgrid[0:h, 0:w]
        mask = ((xx + yy * rng.integers(0, 2)) // period) % 2
        img = np.where(mask[..., None] == 1, c1, c2)
    else:  # checkerboard
        cell = rng.integers(8, 24)
        yy, xx = np.mgrid[0:h, 0:w]
        mask = (xx // cell + yy // cell) % 2
        img = np.where(mask[..., None] == 1, c1, c2)
    img = img + rng.normal(0, 8, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _polygon(rng, category, cx, cy, s):
    if category == 'circle':
        return [(cx + s / 2 * math.cos(t), cy + s / 2 * math.sin(t))
                for t in np.linspace(0, 2 * math.pi, 24, endpoint=False)]
    if category == 'square':
        a = rng.uniform(0, math.pi / 2)  # any rotation
        return [(cx + s / 2 * math.cos(a + k * math.pi / 2),
                 cy + s / 2 * math.sin(a + k * math.pi / 2)) for k in range(4)]
    a = rng.uniform(0, 2 * math.pi)
    return [(cx + s / 2 * math.cos(a + k * 2 * math.pi / 3),
             cy + s / 2 * math.sin(a + k * 2 * math.pi / 3)) for k in range(3)]


def _area(poly):
    x, y = np.asarray(poly).T
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def _iou(a, b):
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0., min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0., min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def make_split(rng, num_images, img_dir, size, first_ann_id=1):
    images, anns = [], []
    ann_id = first_ann_id
    for img_id in range(1, num_images + 1):
        img = Image.fromarray(_background(rng, size))
        draw = ImageDraw.Draw(img)
        boxes = []
        for _ in range(rng.integers(1, 5)):
            for _try in range(20):
                s = float(rng.uniform(0.16, 0.42) * size)
                cx, cy = rng.uniform(s / 2 + 1, size - s / 2 - 1, 2)
                cat = int(rng.integers(len(CATEGORIES)))
                poly = _polygon(rng, CATEGORIES[cat], cx, cy, s)
                xs, ys = [p[0] for p in poly], [p[1] for p in poly]
                box = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
                if all(_iou(box, b) < 0.05 for b in boxes):
                    break
            else:
                continue
            boxes.append(box)
            color = tuple(int(c) for c in rng.integers(0, 256, 3))
            outline = tuple(255 - c for c in color)
            draw.polygon(poly, fill=color, outline=outline)
            anns.append(dict(
                id=ann_id, image_id=img_id, category_id=cat + 1,
                bbox=[round(v, 2) for v in box], area=round(_area(poly), 2),
                segmentation=[[round(v, 2) for p in poly for v in p]],
                iscrowd=0))
            ann_id += 1
        name = f'{img_id:05d}.png'
        img.save(osp.join(img_dir, name))
        images.append(dict(id=img_id, file_name=name, width=size,
                           height=size))
    return images, anns


def make_demo_data(out_dir, num_train=320, num_val=64, size=128, seed=0):
    """Write the dataset to ``out_dir`` (replaced atomically)."""
    rng = np.random.default_rng(seed)
    parent = osp.dirname(osp.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.demo_data.', dir=parent)
    try:
        os.makedirs(osp.join(tmp, 'annotations'))
        categories = [dict(id=i + 1, name=n, supercategory='shape')
                      for i, n in enumerate(CATEGORIES)]
        for split, num in (('train', num_train), ('val', num_val)):
            os.makedirs(osp.join(tmp, split))
            images, anns = make_split(rng, num, osp.join(tmp, split), size)
            with open(osp.join(tmp, 'annotations',
                               f'instances_{split}.json'), 'w') as f:
                json.dump(dict(
                    info=dict(description='rla_mm demo shapes', version='1.0',
                              year=2026),
                    licenses=[], images=images, annotations=anns,
                    categories=categories), f)
        if osp.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='data/demo', help='output folder')
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
