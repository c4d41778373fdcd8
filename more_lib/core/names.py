"""The grammar of names: reward-model schemes, policies, comparisons and their display labels.

    scheme      raw | single-{source} | multitask-{mix} | more-{mix}
                (derived from the single-source RMs, never trained: top | averaging)
    policy      base | sft | rjs-{base}-{scheme}
    comparison  {policy a}_vs_{policy b}
    variant     alpha-{alpha}   (an ablation of a MORE RM: results/ablations/rm/{base}/{scheme}/{variant})

Every name is built and parsed here; rules, scripts and tables call these functions. Source and
mix names are identifiers without a hyphen (the config schema checks it), so a scheme is always
the last one or two hyphen-separated parts of a policy name. Source, mix, task and base names have
at most 48 characters (the schema again): the longest name built here, a comparison of Table 1
(rjs-{base}-more-{mix}_vs_rjs-{base}-multitask-{mix}, 29 + 4 x 48 = 221 characters), is a folder
name and must fit in 255 bytes.
"""

import re
from pathlib import Path

from more_lib.core.errors import DataError

TRAINED_KINDS = ("single", "multitask", "more")
MIXED_KINDS = ("multitask", "more")
LABELS = {"raw": "Raw", "top": "Top", "averaging": "Averaging", "multitask": "MultiTask", "more": "MORE"}
POLICY_PREFIX = "rjs"
COMPARISON_SEPARATOR = "_vs_"
ALPHA_PREFIX = "alpha"

_SCHEME = r"raw|top|averaging|(?:single|multitask|more)-[A-Za-z0-9_]+"
_POLICY = re.compile(rf"{POLICY_PREFIX}-(?P<base>.+)-(?P<scheme>{_SCHEME})")


def single(source):
    return f"single-{source}"


def multitask(mix):
    return f"multitask-{mix}"


def more(mix):
    return f"more-{mix}"


def mixed(kind, mix):
    """The MultiTask or MORE scheme of `mix`, `kind` being "multitask" or "more"."""
    if kind not in MIXED_KINDS:
        raise ValueError(f"not a kind of mixed scheme: {kind!r}")
    return f"{kind}-{mix}"


def singles(sources):
    return [single(s) for s in sources]


def parse_scheme(name):
    """(kind, source or mix or None): single-helpful -> ("single", "helpful"), raw -> ("raw", None)."""
    if not re.fullmatch(_SCHEME, name):
        raise DataError(f"not a scheme name: {name!r}")
    kind, _, rest = name.partition("-")
    return kind, rest or None


def scheme_kind(name):
    return parse_scheme(name)[0]


def table2_schemes(mix):
    """Table 2's rows (Figures 3 and 4 too), in the paper's order."""
    return ["raw", "top", "averaging", multitask(mix), more(mix)]


def label(name, show_mix=False):
    """Display label: raw -> Raw, single-helpful -> Helpful, more-all -> MORE ("MORE (all)" with show_mix)."""
    kind, rest = parse_scheme(name)
    if kind == "single":
        return source_label(rest)
    return f"{LABELS[kind]} ({rest})" if rest and show_mix else LABELS[kind]


def source_label(source):
    return source.capitalize()


def rjs_policy(base, scheme):
    """The policy RJS-aligned with the RM `scheme` of `base`."""
    parse_scheme(scheme)
    return f"{POLICY_PREFIX}-{base}-{scheme}"


def parse_policy(name):
    """(base, scheme) of an RJS policy name."""
    match = _POLICY.fullmatch(name)
    if not match:
        raise DataError(f"not an RJS policy name: {name!r}")
    return match["base"], match["scheme"]


def comparison(a, b):
    return f"{a}{COMPARISON_SEPARATOR}{b}"


def parse_comparison(name):
    """(policy a, policy b) of a comparison name."""
    parts = name.split(COMPARISON_SEPARATOR)
    if len(parts) != 2 or not all(parts):
        raise DataError(f"not a comparison name (A{COMPARISON_SEPARATOR}B): {name!r}")
    return tuple(parts)


def alpha_variant(alpha):
    """The ablation variant of a MORE RM trained with momentum `alpha`: 0.5 -> alpha-0.5."""
    return f"{ALPHA_PREFIX}-{float(alpha):g}"


def parse_alpha_variant(name):
    """The momentum α of an ablation variant name."""
    match = re.fullmatch(rf"{ALPHA_PREFIX}-(?P<alpha>[0-9.e+-]+)", name)
    try:
        return float(match["alpha"])
    except (TypeError, ValueError):
        raise DataError(f"not an α ablation name ({ALPHA_PREFIX}-NUMBER): {name!r}") from None


def key(*parts):
    """The key of a `key=path` argument: parts joined by ':' (e.g. scheme:test source)."""
    return ":".join(parts)


def keyed_paths(items, parts):
    """{key tuple: path} from `key=path` arguments whose keys have `parts` parts."""
    paths = {}
    for item in items:
        name, sep, path = item.partition("=")
        fields = tuple(name.split(":"))
        if not sep or not path or len(fields) != parts:
            raise DataError(f"expected {parts}-part KEY=PATH (parts joined by ':'), got {item!r}")
        paths[fields if parts > 1 else fields[0]] = Path(path)
    return paths
