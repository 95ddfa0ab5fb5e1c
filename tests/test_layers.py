"""The house rules that hold the layout together: layer contracts and module size."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("app", "perception", "models", "data")
MAX_LINES = 500


def test_import_contracts_hold():
    """pyproject.toml's [tool.importlinter] contracts, function-level imports included."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_no_product_module_is_oversized():
    big = {str(p.relative_to(ROOT)): n for pkg in PRODUCT for p in (ROOT / pkg).rglob("*.py")
           if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert big == {}, f"modules over {MAX_LINES} lines: {big}"
