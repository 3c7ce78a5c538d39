"""`redal --version` and the examples in the subcommands' --help texts."""

from __future__ import annotations

import shlex

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
