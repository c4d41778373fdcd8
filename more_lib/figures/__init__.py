"""The figures stage: what every figure shares."""
