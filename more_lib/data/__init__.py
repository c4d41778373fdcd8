"""The data stage: canonical preference records, the synthetic world, one converter per hub schema, clean splits."""
