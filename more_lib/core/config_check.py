"""Config validation before any job runs: what holds for every value (finite numbers, a tree that stays
small once YAML aliases are expanded), the JSON schema (workflow/schemas/config.schema.yaml) with
integers that must be integers, then what a schema cannot say (names the config refers to, the
synthetic world's feature names). Every error is one line naming the key, the value and what was
expected:

    config key 'resample.n': 40.0 is not an integer
    config key 'bases.tiny-s.reward.lrr': unknown key (expected one of: checkpoint_every, deepspeed, ...)
    config key 'reward.lr': inf is not a finite number
"""

import math
import reprlib
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import best_match

from more_lib.core.errors import ConfigError
from more_lib.data import synthetic

TYPES = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false",
         "object": "a mapping", "array": "a list", "null": "null"}
MOST_ERRORS = 5
# Values in the whole config once YAML aliases are expanded; the shipped configs have about 450. Every
# later walk of the tree (the schema's, the reprs in its messages) takes time and memory in proportion.
MOST_VALUES = 100_000
_short = reprlib.Repr()
_short.maxstring, _short.maxother, _short.maxdict, _short.maxlist, _short.maxlevel = 60, 60, 3, 4, 2


def _strict_integer(checker, value):
    # JSON Schema counts 40.0 as an integer; a count or a size in the config must be written 40
    return isinstance(value, int) and not isinstance(value, bool)


def _with_defaults(validator_class):
    """Fill in the schema's `default`s while validating (as snakemake.utils.validate does)."""
    check_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if "default" in sub:
                    instance.setdefault(name, sub["default"])
        yield from check_properties(validator, props, instance, schema)

    return validators.extend(validator_class, {"properties": properties})


Validator = _with_defaults(validators.extend(
    Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer)))


def _key(path):
    return ".".join(str(part) for part in path) or "(top level)"


def describe(error):
    """One line for a schema error: the key, the value, what was expected."""
    key, value, kind, expected = _key(error.absolute_path), error.instance, error.validator, error.validator_value
    if kind == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(value) - set(known))
        return f"config key '{_key([*error.absolute_path, unknown[0]])}': unknown key (expected one of: {', '.join(known)})"
    if kind == "required":
        missing = [name for name in expected if name not in value]
        return f"config key '{key}': missing key '{missing[0]}'"
    if kind in ("oneOf", "anyOf") and all(set(branch) == {"required"} for branch in expected):
        choices = " or ".join(" + ".join(branch["required"]) for branch in expected)
        return f"config key '{key}': needs {'exactly ' if kind == 'oneOf' else ''}one of: {choices}"
    if kind in ("oneOf", "anyOf") and error.context:
        return describe(best_match(error.context))
    if "propertyNames" in error.relative_schema_path:
        return f"config key '{key}': the name {_short.repr(value)} is not allowed ({error.schema.get('description', kind)})"
    if kind == "type":
        wanted = " or ".join(TYPES.get(t, t) for t in ([expected] if isinstance(expected, str) else expected))
        return f"config key '{key}': {_short.repr(value)} is not {wanted}"
    if kind == "enum":
        return f"config key '{key}': {_short.repr(value)} is not one of {', '.join(map(str, expected))}"
    # jsonschema's own message starts with the whole value; keep it short
    return f"config key '{key}': {error.message.replace(repr(value), _short.repr(value))}"


def check_tree(config):
    """What holds for every value, whatever its key: a number is finite (YAML's .nan and .inf pass the
    schema's `number`; a NaN momentum or learning rate trains NaN weights and exits 0), and the tree
    stays small once YAML aliases are expanded: a few lines of anchors repeating each other (a "billion
    laughs") would make the schema's walk and its messages take minutes and gigabytes. Each list or
    mapping is visited once, however many aliases repeat it."""
    sizes = {}  # id of a list or mapping -> its values, aliases expanded; None while it is being counted

    def size(node, path):
        if isinstance(node, float) and not math.isfinite(node):
            raise ConfigError(f"config key '{_key(path)}': {node} is not a finite number")
        if not isinstance(node, (dict, list)):
            return 1
        if id(node) in sizes:
            if sizes[id(node)] is None:
                raise ConfigError(f"config key '{_key(path)}': a YAML alias of a value that contains it")
            return sizes[id(node)]
        sizes[id(node)] = None
        sizes[id(node)] = 1 + sum(size(child, [*path, key]) for key, child in _children(node))
        return sizes[id(node)]

    if size(config, []) > MOST_VALUES:
        def over(node):
            return [(key, child) for key, child in _children(node) if sizes.get(id(child), 1) > MOST_VALUES]

        # name the innermost key holding the excess: go down while a single value is over the limit alone
        path, node = [], config
        while len(big := over(node)) == 1:
            key, node = big[0]
            path.append(key)
        raise ConfigError(f"config key '{_key(path)}': {sizes[id(node)]:,} values once its YAML aliases are expanded "
                          f"(at most {MOST_VALUES:,} in a config)")


def _children(node):
    return node.items() if isinstance(node, dict) else enumerate(node)


def check_schema(config, schema_path):
    """Validate `config` (filling in defaults); a ConfigError lists each problem on one line."""
    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    errors = sorted(Validator(schema).iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        lines = [describe(e) for e in errors]
        lines = list(dict.fromkeys(lines))  # one problem can fail several branches of a schema
        more = [f"... and {len(lines) - MOST_ERRORS} more"] if len(lines) > MOST_ERRORS else []
        raise ConfigError("\n".join(lines[:MOST_ERRORS] + more))


def replicate_counts(replicates):
    """{base: its number of extra seeds}: `replicates.bases` is a list (every seed) or {base: N}."""
    bases = replicates["bases"]
    return dict(bases) if isinstance(bases, dict) else {base: len(replicates["seeds"]) for base in bases}


def check_names(key, names, known, what):
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigError(f"config key '{key}' names {what} not under '{what}': {', '.join(unknown)}")


def check_references(config):
    """The names one part of the config uses for another (sources, bases, mixes, world features)."""
    sources = list(config["sources"])
    for mix, members in config["mixes"].items():
        check_names(f"mixes.{mix}", members, sources, "sources")
    for key in ("focus", "ksweep"):
        check_names(f"analysis.{key}", config["analysis"][key], sources, "sources")
    check_names("alignment.sources", config["alignment"]["sources"], sources, "sources")
    check_names("policy.pretrain.sources", config["policy"].get("pretrain", {}).get("sources", []), sources, "sources")
    check_names("judge.tasks", config["judge"]["tasks"].values(), sources, "sources")
    check_names("alignment.ksweep.bases", config["alignment"]["ksweep"]["bases"], config["bases"], "bases")
    check_names("replicates.bases", config["replicates"]["bases"], config["bases"], "bases")
    check_names("ablations.bases", config["ablations"].get("bases", []), config["bases"], "bases")
    check_policy_lm(config)
    if config["seed"] in config["replicates"]["seeds"]:
        raise ConfigError(f"config key 'replicates.seeds': {config['seed']} is `seed` itself (the primary run)")
    for base, count in replicate_counts(config["replicates"]).items():
        if count > len(config["replicates"]["seeds"]):
            raise ConfigError(f"config key 'replicates.bases.{base}': {count} seeds, but 'replicates.seeds' "
                              f"lists {len(config['replicates']['seeds'])}")
    for base, spec in config["bases"].items():
        check_names(f"bases.{base}.pretrain.sources", spec.get("pretrain", {}).get("sources", []), sources, "sources")
    if config["evaluation"]["table2"]["mix"] not in config["mixes"]:
        raise ConfigError(f"config key 'evaluation.table2.mix' names no mix under 'mixes': "
                          f"{config['evaluation']['table2']['mix']}")
    check_world(config)


def check_policy_lm(config):
    """A policy given as a base's LM names a base the workflow pre-trains (one with a `pretrain` block)."""
    base = config["policy"].get("base_lm")
    if base is None:
        return
    check_names("policy.base_lm", [base], config["bases"], "bases")
    if "pretrain" not in config["bases"][base]:
        raise ConfigError(f"config key 'policy.base_lm': base {base!r} has no `pretrain` block, so the workflow "
                          "trains no LM for it (name its hub id under policy.pretrained instead)")


def check_world(config):
    """Each synthetic source's drift, marker rates and topics name what the world defines."""
    synthetic_sources = {name: spec for name, spec in config["sources"].items() if spec["kind"] == "synthetic"}
    if not synthetic_sources:
        return
    world = config.get("synthetic")
    if world is None:
        raise ConfigError("config key 'synthetic' is required when a source has kind: synthetic")
    for name, spec in synthetic_sources.items():
        for key, used, known, what in [
                ("drift", spec["drift"], synthetic.feature_names(world), "feature"),
                ("style.marker_rates", spec["style"]["marker_rates"], list(world["attributes"]), "attribute"),
                ("style.topics", spec["style"]["topics"], list(world["topics"]), "topic")]:
            unknown = sorted(set(used) - set(known))
            if unknown:
                raise ConfigError(f"config key 'sources.{name}.{key}': {', '.join(map(repr, unknown))} is no {what} "
                                  f"of the synthetic world (expected one of: {', '.join(known)})")


def check(config, schema_path):
    """Everything, in place: an overlay's null entries (a base or source set to null) removed,
    the schema's defaults filled in. Raises a ConfigError before any job runs."""
    check_tree(config)
    for key in ("bases", "sources"):
        if isinstance(config.get(key), dict):
            config[key] = {name: spec for name, spec in config[key].items() if spec is not None}
    check_schema(config, schema_path)
    check_references(config)
