"""The align stage: the policy language model and rejection sampling."""
