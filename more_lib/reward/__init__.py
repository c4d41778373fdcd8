"""The reward stage: models, the training loop and its trainers, MORE's weighting, checkpoints, scoring."""
