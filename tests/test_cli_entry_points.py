"""`python -m deltagrad ...` and `python -m deltagrad.cli ...` are the `deltagrad` command:
the same output on both streams and the same exit status, each run in its own process."""

import json
import os
import subprocess
import sys

import pytest
from test_cli import command

ENTRY_POINTS = {
    "deltagrad": command(),
    "python -m deltagrad": [sys.executable, "-m", "deltagrad"],
    "python -m deltagrad.cli": [sys.executable, "-m", "deltagrad.cli"],
}

CASES = [
    ["--version"],
    ["--help"],
    ["train", "--help"],
    [],  # no command: the help, exit 0
    ["train", "--data", "xor", "--epochs", "2", "--hidden", "4", "-q", "--json"],
    ["train", "--epochs", "0"],  # a usage error: one line, exit 2
    ["evaluate", "no-such-folder"],  # a user error: one line, exit 1
    ["frobnicate"],
]


def outcome(entry: list[str], args: list[str], cwd) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    result = subprocess.run([*entry, *args], cwd=cwd, env=env, text=True,
                            capture_output=True, timeout=120, check=False)
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize("args", CASES, ids=[" ".join(a) or "(none)" for a in CASES])
def test_python_dash_m_is_the_deltagrad_command(args, tmp_path):
    results = {name: outcome(entry, args, tmp_path) for name, entry in ENTRY_POINTS.items()}
    script = results.pop("deltagrad")
    for name, result in results.items():
        assert result == script, f"{name} {' '.join(args)} differs from deltagrad"
    status, out, err = script
    assert "Traceback" not in err
    if "--json" in args:
        assert status == 0 and json.loads(out)["data"] == "xor"
    elif args in (["--version"], ["--help"], ["train", "--help"], []):
        assert status == 0 and ("Usage: deltagrad" in out or out.startswith("deltagrad "))
    else:  # a mistake: one error line, nothing on standard output
        assert status != 0 and out == "" and len(err.splitlines()) == 1

def test_importing_the_main_modules_runs_nothing():
    # `python -m` runs them as __main__; importing them (doc tools, test collectors) must not
    # start the command or exit.
    code = "import deltagrad.__main__, deltagrad.cli.__main__; print('imported')"
    result = subprocess.run([sys.executable, "-c", code], text=True, capture_output=True,
                            timeout=60, check=False)
    assert result.returncode == 0 and result.stdout == "imported\n", result.stderr
