"""Every shell command in README.md and docs/*.md is run by a test or by CI,
so the docs cannot rot.

The convention (also in docs/README.md). Each fenced ```bash / ```sh /
```shell block is classified by an HTML comment on the line above it (blank
lines between are allowed), invisible in the rendered page:

``<!-- docs-test: run -->``
    This test runs the block as a user would after ``make test`` / ``make
    demo``: a fresh ``bash -euo pipefail`` with nothing on ``PYTHONPATH``, no
    virtualenv active and no project interpreter on ``PATH``, which first
    enters the environment the way the README says (``source
    .venv/bin/activate``), in a scratch copy of the repo (code symlinked)
    that has small demo data in ``data/demo`` and ``data/demo_cls``; outputs
    stay in the scratch folder. The blocks of one file share it, in order.
    For commands of seconds to a minute (marked slow).
``<!-- docs-test: ci -->``
    Commands that CI runs as part of ``.ci/run`` (``make test``): every line
    is ``make TARGET`` (checked with ``make -n TARGET``) or a pytest call
    whose test paths / node ids must exist. Blocks made only of such lines
    need no marker.
``<!-- docs-test: tested-by NODEID [NODEID ...] -->``
    Needs outputs of an earlier heavy step (e.g. ``make demo``'s checkpoint):
    the named tests run the same tool on small data. Checked: the node ids
    exist, plus the static checks below.
``<!-- docs-test: static REASON -->``
    Cannot run here (needs COCO / ImageNet / CIFAR, GPUs, the authors'
    released weights, or is a usage line with placeholders); REASON says
    which. Static checks: every repo path it names (``configs/``, ``tools/``,
    ``tests/``, ``docs/``, ``requirements/``) exists, and every ``--option``
    given to a ``tools/*.py`` script is defined in that script.

Any other block without a marker fails with the list of the four choices.
"""
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache

import pytest

from conftest import REPO_ROOT
from rla_mm.testing.demo_data import make_cls_demo_data, make_demo_data

SHELL_LANGS = ('bash', 'sh', 'shell')
MODES = ('run', 'ci', 'tested-by', 'static')
MARKER = re.compile(
    r'^<!--\s*docs-test:\s*(?P<mode>[\w-]+)\s*(?P<arg>.*?)\s*-->$')
FENCE = re.compile(r'^\s*(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)')
HEREDOC = re.compile(r"<<-?\s*['\"]?(?P<tag>\w+)['\"]?")
REPO_PATH = re.compile(
    r'^(\./)?(configs|tools|tests|docs|requirements)/[\w./-]+$')
ENV_ASSIGN = re.compile(r'^\w+=\S*$')
SHELL_OPS = {'|', '||', '&&', ';', '>', '>>', '<', '2>&1', '&'}
# pytest options that take a value (the value is not a test path)
PYTEST_VALUE_OPTS = {'-m', '-k', '-p', '-c', '-o', '--durations', '--rootdir',
                     '--maxfail', '--deselect', '--ignore', '--basetemp'}
LINKED = ('configs', 'tools', 'rla_mm', 'tests', 'docs', 'requirements',
          'Makefile', 'setup.py', 'pytest.ini', 'model-index.yml',
          'README.md', '.venv')


@dataclass
class Block:
    doc: str  # path relative to the repo root
    line: int  # line of the opening fence (1-based)
    body: str
    mode: str  # one of MODES, or '' when the block has no marker
    arg: str

    @property
    def id(self):
        return f'{self.doc}:{self.line}'


def doc_files():
    docs = osp.join(REPO_ROOT, 'docs')
    names = sorted(n for n in os.listdir(docs) if n.endswith('.md')) \
        if osp.isdir(docs) else []
    return ['README.md'] + [f'docs/{n}' for n in names]


def parse_blocks(doc):
    """The shell blocks of one markdown file, with their markers."""
    with open(osp.join(REPO_ROOT, doc)) as f:
        lines = f.read().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group('fence'), m.group('lang').lower()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if lang in SHELL_LANGS:
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            marker = MARKER.match(lines[k].strip()) if k >= 0 else None
            blocks.append(
                Block(doc, i + 1, '\n'.join(lines[i + 1:j]),
                      marker.group('mode') if marker else '',
                      marker.group('arg') if marker else ''))
        i = j + 1
    return blocks


def commands(body):
    """The commands of a block: continuations joined, comments and heredoc
    bodies dropped (a heredoc stays with the command that opens it)."""
    out, pending, heredoc = [], '', None
    for raw in body.splitlines():
        if heredoc is not None:
            if raw.strip() == heredoc:
                heredoc = None
            continue
        line = raw.strip()
        if not pending and (not line or line.startswith('#')):
            continue
        line = re.sub(r"\s+#[^'\"]*$", '', line)
        if line.endswith('\\'):
            pending += line[:-1].rstrip() + ' '
            continue
        command = (pending + line).strip()
        pending = ''
        m = HEREDOC.search(command)
        if m:
            heredoc = m.group('tag')
        out.append(command)
    if pending.strip():
        out.append(pending.strip())
    return out


def _words(command):
    try:
        return shlex.split(command, comments=False)
    except ValueError:
        return command.split()


def _program(words):
    """Words of a command without leading ``VAR=value`` assignments."""
    i = 0
    while i < len(words) and ENV_ASSIGN.match(words[i]):
        i += 1
    return words[i:]


def _pytest_args(words):
    """Arguments after ``pytest`` if the command is a pytest call."""
    words = _program(words)
    for i, w in enumerate(words):
        if osp.basename(w) == 'pytest':
            return words[i + 1:]
        if w == '-m' and i + 1 < len(words) and words[i + 1] == 'pytest':
            return words[i + 2:]
        if not (osp.basename(w).startswith('python') or w == 'env'):
            return None
    return None


def _make_targets(words):
    words = _program(words)
    if words and words[0] == 'make':
        return [w for w in words[1:] if not w.startswith('-')]
    return None


def is_ci_command(command):
    words = _words(command)
    return _pytest_args(words) is not None or bool(_make_targets(words))


def pytest_paths(args):
    """Test paths / node ids in pytest's arguments."""
    paths, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in PYTEST_VALUE_OPTS:
            skip = True
        elif not a.startswith('-'):
            paths.append(a)
    return paths


ALL_BLOCKS = [b for doc in doc_files() for b in parse_blocks(doc)]


def _mode(block):
    if block.mode:
        return block.mode
    cmds = commands(block.body)
    return 'ci' if cmds and all(is_ci_command(c) for c in cmds) else ''


def _node_ids_named(blocks):
    ids = set()
    for b in blocks:
        mode = _mode(b)
        if mode == 'tested-by':
            ids.update(b.arg.split())
        if mode in ('ci', 'tested-by'):
            for c in commands(b.body):
                args = _pytest_args(_words(c))
                if args is not None:
                    ids.update(pytest_paths(args))
    return sorted(ids)


@lru_cache(maxsize=1)
def collected_tests():
    """Node ids pytest collects from every test file the docs name."""
    files = sorted({i.split('::')[0] for i in _node_ids_named(ALL_BLOCKS)
                    if osp.isfile(osp.join(REPO_ROOT, i.split('::')[0]))})
    if not files:
        return ()
    proc = subprocess.run(
        [sys.executable, '-m', 'pytest', '--collect-only', '-q',
         '-p', 'no:cacheprovider'] + files,
        cwd=REPO_ROOT, capture_output=True, text=True,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore'))
    return tuple(line.strip() for line in proc.stdout.splitlines()
                 if '::' in line)


def node_exists(node_id):
    path = node_id.split('::')[0]
    if '::' not in node_id and osp.isdir(osp.join(REPO_ROOT, path)):
        return True
    return any(t == node_id or t.startswith(node_id + '::')
               or t.startswith(node_id + '[') for t in collected_tests())


def static_problems(block):
    """Paths the block names that do not exist; options a tool lacks."""
    problems = []
    for command in commands(block.body):
        words = _words(command.split('<<')[0])
        tool = None
        for w in words:
            if w in SHELL_OPS:
                tool = None
                continue
            if REPO_PATH.match(w) and not re.search(r'[A-Z*$<>{}\[\]]', w):
                if not osp.exists(osp.join(REPO_ROOT, w)):
                    problems.append(f'{w} does not exist')
                if w.endswith('.py') and w.lstrip('./').startswith('tools/'):
                    tool = w
                    continue
            if tool and w.startswith('--'):
                option = w.split('=')[0]
                if not tool_defines(tool, option):
                    problems.append(f'{tool} has no option {option}')
        targets = _make_targets(words)
        if targets:
            problems += _make_problems(targets)
    return problems


def tool_defines(tool, option):
    """Whether the script ``tool`` defines ``--option``: named in its source,
    or ``--out-dir`` added by ``rla_mm.analysis.outputs.add_out_dir``."""
    with open(osp.join(REPO_ROOT, tool)) as f:
        source = f.read()
    if f"'{option}'" in source or f'"{option}"' in source:
        return True
    return option == '--out-dir' and 'add_out_dir(' in source


def _make_problems(targets):
    proc = subprocess.run(['make', '-n'] + targets, cwd=REPO_ROOT,
                          capture_output=True, text=True)
    return [] if proc.returncode == 0 else [
        f'make -n {" ".join(targets)}: {proc.stderr.strip()}']


def test_the_docs_have_shell_blocks():
    assert any(b.doc == 'docs/rla.md' for b in ALL_BLOCKS)
    assert any(_mode(b) == 'run' for b in ALL_BLOCKS)


def test_commands_parser():
    body = ('# a comment\npython tools/train.py A \\\n    --work-dir B  '
            '# why\nmake demo   # install\npython - <<\'EOF\'\nprint(1)\n'
            'EOF\nOMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/x.py '
            '-m "not slow"')
    assert commands(body) == [
        'python tools/train.py A --work-dir B', 'make demo',
        "python - <<'EOF'",
        'OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/x.py '
        '-m "not slow"'
    ]
    assert [is_ci_command(c) for c in commands(body)] == [
        False, True, False, True]
    assert pytest_paths(['tests/x.py::t', '-m', 'not slow', '-q']) == \
        ['tests/x.py::t']


def _params(modes, slow=False):
    selected = [b for b in ALL_BLOCKS if _mode(b) in modes]
    marks = [pytest.mark.slow] if slow else []
    return [pytest.param(b, id=b.id, marks=marks) for b in selected]


@pytest.mark.parametrize('block', [
    pytest.param(b, id=b.id) for b in ALL_BLOCKS if _mode(b) not in MODES
])
def test_every_block_is_classified(block):
    pytest.fail(
        f'{block.id}: this shell block is neither run by a test nor by CI. '
        'Put one of these on the line above its ``` fence: '
        '<!-- docs-test: run --> (a test runs it on the demo data), '
        '<!-- docs-test: ci --> (make / pytest lines), '
        '<!-- docs-test: tested-by tests/test_x.py::test_y --> (a test runs '
        'the same tool on small data), '
        '<!-- docs-test: static WHY --> (needs COCO/ImageNet/GPUs/released '
        f'weights, or is a usage line). Block:\n{block.body}')


@pytest.mark.parametrize('block', _params(('ci', )))
def test_ci_blocks(block):
    problems = []
    for command in commands(block.body):
        words = _words(command)
        targets = _make_targets(words)
        args = _pytest_args(words)
        if targets:
            problems += _make_problems(targets)
        elif args is not None:
            problems += [f'{p} collects no test' for p in pytest_paths(args)
                         if not node_exists(p)]
        else:
            problems.append(f'not a make or pytest command: {command}')
    assert not problems, f'{block.id}: {problems}'


@pytest.mark.parametrize('block', _params(('tested-by', )))
def test_tested_by_blocks(block):
    ids = block.arg.split()
    assert ids, f'{block.id}: tested-by needs node ids'
    missing = [i for i in ids if not node_exists(i)]
    assert not missing, f'{block.id}: no such tests: {missing}'
    assert not static_problems(block), static_problems(block)


@pytest.mark.parametrize('block', _params(('static', )))
def test_static_blocks(block):
    assert block.arg, f'{block.id}: say why it cannot run: static REASON'
    problems = static_problems(block)
    assert not problems, f'{block.id}: {problems}'


@pytest.fixture(scope='module')
def sandbox(tmp_path_factory):
    """A scratch copy of the repo: code linked, small demo data made."""
    root = tmp_path_factory.mktemp('docs_sandbox')
    for name in LINKED:
        if osp.exists(osp.join(REPO_ROOT, name)):
            os.symlink(osp.join(REPO_ROOT, name), root / name)
    make_demo_data(str(root / 'data' / 'demo'), num_train=8, num_val=4)
    make_cls_demo_data(str(root / 'data' / 'demo_cls'), 2, 2)
    return root


def user_shell_env():
    """The environment of a fresh login shell: no virtualenv active, nothing
    on PYTHONPATH, no project interpreter on PATH."""
    venv_bins = {osp.dirname(sys.executable),
                 osp.join(REPO_ROOT, '.venv', 'bin')}
    if os.environ.get('VIRTUAL_ENV'):
        venv_bins.add(osp.join(os.environ['VIRTUAL_ENV'], 'bin'))
    path = [p for p in os.environ.get('PATH', '').split(os.pathsep)
            if p and osp.realpath(p) not in {osp.realpath(b)
                                             for b in venv_bins}]
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'VIRTUAL_ENV', 'PYTHONHOME')
           and not k.startswith('PYTEST')}
    env.update(PATH=os.pathsep.join(path), OMP_NUM_THREADS='1',
               PYTHONWARNINGS='ignore', MPLBACKEND='Agg')
    return env


def enter_environment():
    """What the README tells a user to run first: activate the project's
    virtualenv (``make`` creates ``.venv``); without one (the suite run by
    another interpreter), put that interpreter first on PATH instead."""
    if osp.isfile(osp.join(REPO_ROOT, '.venv', 'bin', 'activate')):
        return 'source .venv/bin/activate\n'
    return f'export PATH={shlex.quote(osp.dirname(sys.executable))}:$PATH\n'


def test_user_shell_has_no_project_python(tmp_path):
    """The run blocks' shell finds neither the test's interpreter nor the
    project's virtualenv before it activates it."""
    proc = subprocess.run(
        ['bash', '-c', 'command -v python python3 || true'], cwd=tmp_path,
        env=user_shell_env(), capture_output=True, text=True)
    found = {osp.dirname(p) for p in proc.stdout.split()}
    assert osp.dirname(sys.executable) not in found
    assert osp.join(REPO_ROOT, '.venv', 'bin') not in found


@pytest.mark.parametrize('block', _params(('run', ), slow=True))
def test_run_blocks(block, sandbox):
    proc = subprocess.run(
        ['bash', '-euo', 'pipefail', '-c', enter_environment() + block.body],
        cwd=sandbox, env=user_shell_env(), capture_output=True, text=True,
        timeout=900)
    assert proc.returncode == 0, (
        f'{block.id} failed ({proc.returncode}):\n{block.body}\n--- stdout\n'
        f'{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}')


def test_every_doc_page_is_in_the_index():
    index = open(osp.join(REPO_ROOT, 'docs', 'README.md')).read()
    pages = [d[len('docs/'):] for d in doc_files()
             if d.startswith('docs/') and d != 'docs/README.md']
    missing = [p for p in pages if f']({p})' not in index]
    assert not missing, f'docs/README.md does not list {missing}'
