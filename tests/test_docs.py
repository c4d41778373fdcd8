"""The manual (docs/) builds with Sphinx and MyST without a single warning: every page is in a
toctree, every internal link and `page.md#section` anchor resolves, every directive parses."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def test_the_manual_builds_without_a_warning(tmp_path):
    # The command docs/conf.py and the development page give, into a scratch folder: -W turns
    # warnings into errors, --keep-going reports all of them, -n checks every reference, -E reads
    # every page afresh.
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-E", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        check=False, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "WARNING" not in output and "ERROR" not in output, output[-6000:]
    built = {path.stem for path in (tmp_path / "html").glob("*.html")}
    assert {path.stem for path in DOCS.glob("*.md")} <= built, "a page of docs/ was not built"
