"""The judge stage: pairwise judging, the OpenAI-compatible endpoint and its answer cache."""
