"""The README's two fresh-machine commands stay true: CI runs the test line verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_opens_with_demo_and_test_commands():
    first, second = _readme_commands()[:2]
    assert "pip install torch==2.13.0" in first and first.endswith("privsynth demo")
    assert (
        "pip install torch==2.13.0" in second
        and '".[test]"' in second
        and second.endswith("pytest")
    )


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci
