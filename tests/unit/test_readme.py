"""The docs match the code: README's settings table and .ci/run's test command."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from pathlib import Path

from replog.config import Config

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented_with_its_default() -> None:
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| `REPLOG_\w+` \| ([^|]+) \|", README, re.M)}
    assert set(rows) == {f.name for f in fields(Config)}
    for f in fields(Config):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        if isinstance(default, tuple):
            default = ",".join(default)
        shown = rows[f.name].strip().strip("`")
        expected = str(default).lower() if isinstance(default, bool) else str(default)
        assert shown == expected or (shown == "(empty)" and default == ""), f.name


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"```bash\n(.+?)\n```", README)
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
