"""Every caption of the HTML report renders as `snakemake --report` renders it (Jinja over the config,
then docutils under workflow/report/docutils.conf) without a single docutils message: a caption
docutils warns about would fail the report build."""

from types import SimpleNamespace

import jinja2
import pytest
import yaml
from docutils.core import publish_parts

from tests.workflow_run import REPO

REPORT = REPO / "workflow" / "report"


@pytest.mark.parametrize("caption", sorted(REPORT.glob("*.rst")), ids=lambda path: path.name)
def test_caption_renders_without_a_docutils_message(caption, monkeypatch):
    monkeypatch.setenv("DOCUTILSCONFIG", str(REPORT / "docutils.conf"))  # as the Snakefile sets it
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    text = jinja2.Template(caption.read_text()).render(snakemake=SimpleNamespace(config=config))
    messages = []
    html = publish_parts(text, writer_name="html", settings_overrides={"warning_stream": _Collect(messages)})
    assert not messages, messages
    assert html["body"].strip()


class _Collect:
    """A docutils warning stream that keeps what it is given."""

    def __init__(self, into):
        self.into = into

    def write(self, text):
        self.into.append(text)

    def flush(self):
        pass
