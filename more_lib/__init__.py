"""Library behind the MORE reproducibility pipeline (see DESIGN.md for the module map)."""
