"""The benchmarks: timing helpers, the DAG benchmark and the GPU check."""
