"""What every stage shares: names, config checks, atomic I/O and artifacts, errors, seeding, progress, device, the CLI and the warm start."""
