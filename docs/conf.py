"""Sphinx configuration of the manual: Markdown pages (MyST) under docs/, built with

    sphinx-build -W --keep-going -n -b html docs docs/_build/html

Warnings are errors (-W) and every reference is checked (-n); nothing here silences a warning."""

project = "MORE, reproduced"
author = "the MORE reproduction"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# `page.md#section` links resolve to a heading's slug (GitHub's rule, so the same links work on
# GitHub), for headings down to ###.
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = project
# No network at build time: no intersphinx, no remote images, no link check in the build.
