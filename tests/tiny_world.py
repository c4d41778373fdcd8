"""The smoke world cut down to a few sources and bases, for tests that build real DAGs quickly."""

import yaml

from tests.workflow_run import DEFAULT, SMOKE


def merged(base, overlay):
    """Snakemake's merge of one config file over another: nested keys one by one."""
    if not (isinstance(base, dict) and isinstance(overlay, dict)):
        return overlay
    return {**base, **{key: merged(base.get(key), value) for key, value in overlay.items()}}


def shrunk(node, names, keep):
    """`node` with every list made only of `names` cut down to those in `keep`."""
    if isinstance(node, dict):
        return {key: shrunk(value, names, keep) for key, value in node.items()}
    if isinstance(node, list) and node and all(isinstance(x, str) and x in names for x in node):
        return [x for x in node if x in keep]
    return node


def tiny_world(sources, bases):
    """The default config with config/smoke.yaml over it, keeping only these sources and bases:
    every list of source or base names in it (mixes, analyses, policy...) shrinks with them."""
    config = merged(yaml.safe_load(DEFAULT.read_text()), yaml.safe_load(SMOKE.read_text()))
    for key, keep in (("sources", sources), ("bases", bases)):
        config = shrunk(config, set(config[key]), keep)
        config[key] = {name: config[key][name] for name in keep}
    return config


def write_tiny_world(path, sources, bases):
    path.write_text(yaml.safe_dump(tiny_world(sources, bases), sort_keys=False))
    return path
