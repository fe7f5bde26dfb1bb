"""The output convention of rla_mm's tools: ``--out-dir DIR``.

Every tool that writes files takes ``--out-dir DIR`` and names its files
inside it (``DIR/<image>.png``, ``DIR/benchmark.json``, ...), like mmdet's
``--work-dir`` / ``--show-dir``. Earlier single-file flags (``--out FILE``,
``--json FILE``, ``--plot FILE``) still work for old scripts, with a warning
on stderr.

Example:
    >>> parser = argparse.ArgumentParser()
    >>> add_out_dir(parser, default='outputs', legacy=('--json', ))
    >>> args = parser.parse_args(['--out-dir', 'work_dirs/speed'])
    >>> output_path(args, 'benchmark.json', legacy='json')
    'work_dirs/speed/benchmark.json'
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

__all__ = ['add_out_dir', 'output_path']


def add_out_dir(parser: argparse.ArgumentParser,
                default: Optional[str] = 'outputs',
                legacy: Sequence[str] = (),
                help_text: str = 'folder of the files this tool writes'
                ) -> None:
    """Add ``--out-dir DIR`` and the hidden deprecated single-file flags.

    Args:
        parser: The tool's parser.
        default (str, optional): Default folder; None: write nothing unless
            ``--out-dir`` is given.
        legacy (Sequence[str]): Deprecated flags taking a file path, e.g.
            ``('--json', )``; hidden from ``--help``.
        help_text (str): Help text of ``--out-dir``.
    """
    suffix = f' (default: {default})' if default else ''
    parser.add_argument('--out-dir', default=default, metavar='DIR',
                        help=help_text + suffix)
    for flag in legacy:
        parser.add_argument(flag, metavar='FILE', help=argparse.SUPPRESS)


def output_path(args: argparse.Namespace,
                name: str,
                legacy: Optional[str] = None,
                legacy_flag: Optional[str] = None) -> Optional[str]:
    """Where a tool writes its file ``name``.

    Args:
        args: Parsed arguments with ``out_dir``.
        name (str): The file's name inside ``--out-dir``.
        legacy (str, optional): Attribute of a deprecated single-file flag
            (``'json'`` for ``--json``); if the user gave it, its path wins
            and a deprecation warning goes to stderr.
        legacy_flag (str, optional): How the warning names it (default
            ``--`` + ``legacy``).

    Returns:
        str | None: The path, or None when neither ``--out-dir`` (with no
        default) nor the legacy flag was given.
    """
    legacy_path = getattr(args, legacy) if legacy else None
    if legacy_path is not None:
        flag = legacy_flag or '--' + legacy.replace('_', '-') + ' FILE'
        print(f'WARNING: {flag} is deprecated; use --out-dir DIR (this '
              f'tool then writes DIR/{name})', file=sys.stderr)
        return legacy_path
    if args.out_dir is None:
        return None
    return osp.join(args.out_dir, name)
