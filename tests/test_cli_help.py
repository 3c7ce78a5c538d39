"""`redal --version` and the examples in the subcommands' --help texts."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

import redal_core
from redal_core.cli import build_parser, main

COMMANDS = ("prepare", "run", "status", "sweep", "figures", "export", "import")


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"redal {redal_core.__version__}"


def _subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


@pytest.mark.parametrize("command", COMMANDS)
def test_help_ends_with_examples_that_parse(command):
    sub = _subparsers()[command]
    text = sub.format_help()
    assert "\nexamples:\n" in text, text
    examples = [line.split("#")[0].strip() for line in text.split("\nexamples:\n", 1)[1].splitlines()]
    examples = [line for line in examples if line]
    assert 1 <= len(examples) <= 2, examples
    for line in examples:
        words = shlex.split(line)
        assert words[:2] == ["redal", command], line
        args = build_parser().parse_args(words[1:])  # an example that no longer parses fails here
        assert args.command == command
    # printed as written: the epilog's line breaks survive argparse's formatting
    assert all(f"  {line}" in text for line in examples)


def test_a_command_skips_the_garbage_collection_at_exit(tmp_path):
    # the hook registered first runs last: after redal's gc.freeze, before the interpreter's final collection
    code = ("import atexit, gc; atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0)); "
            f"from redal_core.cli import main; main(['status', {str(tmp_path)!r}])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "frozen True", done.stderr
