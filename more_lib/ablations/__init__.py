"""The ablations: MORE's momentum and the statistics of its lambda."""
