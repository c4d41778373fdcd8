"""Library behind the MORE reproducibility pipeline, one package per stage of the workflow
(workflow/rules/<stage>.smk runs scripts/<stage>/*.py, which call more_lib/<stage>/): hub, data,
reward, evaluate, figures, align, judge, benchmarks, ablations; core holds what every stage shares
(names, config checks, atomic I/O and the artifacts' promises, errors, seeding, progress, device,
the CLI, the warm start). docs/development.md lists the modules."""
