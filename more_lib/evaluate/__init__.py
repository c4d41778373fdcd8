"""The evaluate stage: metrics, Table 2 and Tables 4-6, the claims with their intervals and verdicts, power."""
