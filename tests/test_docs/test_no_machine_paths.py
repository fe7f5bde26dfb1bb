"""No file of the project names a path of the machine it was written on
(a home or scratch folder, the papers' local copies): docs cite papers by
authors, title, venue and arXiv id; tools suggest paths in the repo."""
import os
import os.path as osp
import re
import subprocess

from conftest import REPO_ROOT

# built from parts so that this file does not match itself
MACHINE_PATH = re.compile('|'.join(
    re.escape(p) for p in ('/' + 'work/', '/' + 'tmp/', '/' + 'root/',
                           '/' + 'home/', 'shared/' + 'papers')))
SKIP_DIRS = {'.git', '.venv', 'data', 'work_dirs', 'outputs', 'checkpoints',
             '__pycache__', '.pytest_cache'}


def project_files():
    """Files git tracks or would track (not ignored); a walk without git."""
    try:
        out = subprocess.run(
            ['git', 'ls-files', '-co', '--exclude-standard'], cwd=REPO_ROOT,
            capture_output=True, text=True, check=True).stdout
        return [f for f in out.splitlines()
                if osp.isfile(osp.join(REPO_ROOT, f))]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for folder, dirs, names in os.walk(REPO_ROOT):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            files += [osp.relpath(osp.join(folder, n), REPO_ROOT)
                      for n in names]
        return files


def test_no_machine_paths_in_the_repo():
    found = []
    for rel in project_files():
        try:
            with open(osp.join(REPO_ROOT, rel), encoding='utf-8') as f:
                text = f.read()
        except (UnicodeDecodeError, OSError):
            continue  # binary (figures, checkpoints)
        for i, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f'{rel}:{i}: {line.strip()[:100]}')
    assert not found, '\n'.join(found)
