"""One device and precision policy (more_lib/core/device.py): what it picks on this machine, that it
overrides the dtype a config or checkpoint names, and an audit that every model of scripts/ and
more_lib/ is created, placed and fed through it."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification

from more_lib.align import policy
from more_lib.core import device, io
from more_lib.reward import models

REPO = Path(__file__).resolve().parents[1]
HELPER = REPO / "more_lib" / "core" / "device.py"
TINY = io.read_json(REPO / "config" / "models" / "tiny-gpt-neox.json")  # names torch_dtype float16
SOURCES = sorted([*(REPO / "scripts").rglob("*.py"), *(REPO / "more_lib").rglob("*.py")])
# Scripts that create a model (or the library module that does it for a script), and the library
# functions through which they must do it.
ENTRY_POINTS = ["scripts/reward/train_rm.py", "scripts/align/train_policy.py", "scripts/evaluate/score_rm.py", "scripts/align/rjs_score.py",
                "scripts/align/rjs_sample.py", "scripts/align/generate.py", "scripts/align/perplexity.py", "more_lib/benchmarks/reward.py",
                "more_lib/benchmarks/gpu_check.py"]
MODEL_MAKERS = {"build_reward_model", "load_reward_model", "build_policy", "load_policy"}


def _name(node):
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _mentions_device(argument):
    """The argument holds a literal ("cuda", "cpu"), a variable named like a device or a
    torch.device(...) call. (`x.to(other.device)` follows a tensor already placed, so it passes.)"""
    return any((isinstance(node, ast.Constant) and isinstance(node.value, str))
               or (isinstance(node, ast.Name) and "device" in node.id)
               or (isinstance(node, ast.Call) and _name(node.func) == "device") for node in ast.walk(argument))


def audit(source, is_helper=False):
    """Placement and precision decisions made outside the helper, as 'line: what' strings."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "torch" \
                and node.attr in {"cuda", "autocast", "set_default_device"} and not is_helper:
            problems.append(f"{node.lineno}: torch.{node.attr}")
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        method, owner = node.func.attr, _name(node.func.value)
        keywords = {k.arg for k in node.keywords}
        if method in {"from_pretrained", "from_config"} and not any(w in owner for w in ("Tokenizer", "Config")):
            if not is_helper:
                problems.append(f"{node.lineno}: {owner}.{method} outside the helper")
            elif "dtype" not in keywords:
                problems.append(f"{node.lineno}: {owner}.{method} without dtype")
        if is_helper:
            continue
        if method == "cuda":
            problems.append(f"{node.lineno}: .cuda()")
        if method == "to" and ("device" in keywords or any(_mentions_device(a) for a in node.args)):
            problems.append(f"{node.lineno}: .to({ast.unparse(node.args[0]) if node.args else 'device=...'})")
    return problems


def test_the_audit_finds_placements_and_loads_outside_the_helper():
    snippet = """
model = AutoModelForCausalLM.from_pretrained(path)
model.to("cuda" if torch.cuda.is_available() else "cpu")
batch = [t.to(device) for t in batch]
x = x.cuda()
tok = AutoTokenizer.from_pretrained(path)
y = lam.to(losses.dtype)
"""
    assert sorted(audit(snippet)) == sorted(["2: AutoModelForCausalLM.from_pretrained outside the helper",
                                             "3: .to('cuda' if torch.cuda.is_available() else 'cpu')",
                                             "3: torch.cuda", "4: .to(device)", "5: .cuda()"])
    assert audit("m = model_class.from_pretrained(p)", is_helper=True) == ["1: model_class.from_pretrained without dtype"]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_placement_or_precision_decision_outside_the_helper(path):
    assert audit(path.read_text(), is_helper=path == HELPER) == []


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_every_model_loading_entry_point_creates_its_models_through_the_library(entry_point):
    tree = ast.parse((REPO / entry_point).read_text())
    assert MODEL_MAKERS & {_name(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}, entry_point


@pytest.mark.parametrize("module, function", [(models, "build_reward_model"), (models, "load_reward_model"),
                                              (policy, "build_policy"), (policy, "load_policy")])
def test_the_library_model_makers_go_through_the_helper(module, function):
    tree = ast.parse(Path(module.__file__).read_text())
    body = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    calls = {ast.unparse(n.func) for n in ast.walk(body) if isinstance(n, ast.Call)}
    assert calls & {"device.load", "device.build"}, function


def test_on_a_cpu_machine_the_job_runs_on_the_cpu_in_fp32():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert device.job_device() == torch.device("cpu")
    assert device.weight_dtype(training=True) == device.weight_dtype(training=False) == torch.float32
    with device.autocast():
        assert not torch.is_autocast_enabled("cpu") and not torch.is_autocast_enabled("cuda")


def test_a_job_without_visible_gpus_picks_the_cpu():
    """CUDA_VISIBLE_DEVICES='' (a SLURM CPU job) hides every GPU, on any machine."""
    code = "from more_lib.core import device; print(device.job_device(), device.weight_dtype(training=False))"
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                            env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, cwd=REPO)
    assert result.stdout.split() == ["cpu", "torch.float32"]


def test_a_config_naming_fp16_still_builds_fp32_master_weights():
    """from_config would follow the config's torch_dtype (float16) without the helper's dtype."""
    tokenizer = models.train_word_tokenizer(["a b c"])
    assert AutoConfig.for_model(**TINY).dtype == torch.float16
    model = models.build_reward_model({"config": {k: v for k, v in TINY.items() if k != "vocab_size"}}, tokenizer, 0)
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_a_checkpoint_saved_in_fp16_loads_for_scoring_in_the_policy_dtype(tmp_path):
    """transformers 5's from_pretrained defaults to the checkpoint's dtype (dtype='auto')."""
    config = AutoConfig.for_model(**TINY, num_labels=1)
    AutoModelForSequenceClassification.from_config(config, dtype=torch.float16).save_pretrained(tmp_path)
    model = models.load_reward_model(tmp_path)
    assert {p.dtype for p in model.parameters()} == {device.weight_dtype(training=False)}
    assert model.device == device.job_device()


def test_inputs_follow_the_model():
    tokenizer = models.train_word_tokenizer(["a b c"])
    model = models.build_reward_model({"config": {k: v for k, v in TINY.items() if k != "vocab_size"}}, tokenizer, 0)
    ids, mask = device.inputs_for(model, (torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 3)))
    encoded = device.inputs_for(model, {"input_ids": torch.zeros(1, 3, dtype=torch.long)})
    assert ids.device == mask.device == encoded["input_ids"].device == next(model.parameters()).device
