"""The policy language model: build or load it, encode prompt/response examples, sample, perplexity.

A policy sees a prompt rendered with the configured template (the synthetic world: the prompt as
it is; the paper world: Alpaca's instruction template) and is trained on the response tokens
only: prompt positions carry the label -100, which the causal-LM loss ignores.
"""

import torch
from tqdm import tqdm
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from more_lib.core import device
from more_lib.reward.models import length_batches

IGNORE = -100  # label of a position the loss skips (transformers' convention)


def load_policy_tokenizer(name_or_path):
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, padding_side="right")
    if tokenizer.pad_token is None:  # LLaMA and Pythia ship without one
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def build_policy(spec, tokenizer, seed, training=True):
    """A fresh causal LM from the config (the synthetic world's stand-in for Alpaca; an architecture
    for the GPU check), on the job's device: fp32 to train, bf16 on a GPU to sample."""
    torch.manual_seed(seed)
    config = AutoConfig.for_model(**spec["config"], vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return device.build(AutoModelForCausalLM, config, training)


def load_policy(name_or_path, training=False):
    """A policy folder or hub id on the job's device: fp32 to train, bf16 on a GPU to sample or score."""
    return device.load(AutoModelForCausalLM, name_or_path, training)


def render(template, prompt):
    """The policy's input for a dataset prompt (whose surrounding whitespace the template owns)."""
    return template.format(prompt=prompt.strip())


def rm_text(prompt, response):
    """What a reward model reads: the raw prompt (as in its training pairs) and the response."""
    return prompt + response if prompt[-1:].isspace() else f"{prompt} {response}"


def example_ids(tokenizer, prompt, response, max_length):
    """Token ids and labels of one example: the prompt masked, the response and EOS learnt.
    Too long → cut from the left, as the reward models do: the response is what matters."""
    prompt_ids = tokenizer(prompt)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = (prompt_ids + response_ids)[-max_length:]
    labels = ([IGNORE] * len(prompt_ids) + response_ids)[-max_length:]
    return ids, labels


def collate(tokenizer, examples):
    """Right-padded input ids, attention mask and labels of (ids, labels) examples."""
    width = max(len(ids) for ids, _ in examples)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in examples])
    labels = torch.tensor([labels + [IGNORE] * (width - len(labels)) for _, labels in examples])
    mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in examples])
    return input_ids, mask, labels


def bucketed_token_losses(model, tokenizer, examples, buckets=1):
    """token_losses of (ids, labels) examples, summed over `buckets` batches of similar length, each
    padded to its own longest (the same sums, less padding: as models.bucket for reward models);
    with 1, one batch in the examples' order."""
    lengths = [len(ids) for ids, _ in examples]
    parts = length_batches(lengths, -(-len(examples) // buckets)) if buckets > 1 else [range(len(examples))]
    losses = [token_losses(model, *device.inputs_for(model, collate(tokenizer, [examples[i] for i in part])))
              for part in parts]
    return sum(nll for nll, _ in losses), sum(tokens for _, tokens in losses)


def token_losses(model, input_ids, attention_mask, labels):
    """Summed negative log-likelihood of the labelled tokens, and their number (no KV cache built)."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits[:, :-1].float()
    targets = labels[:, 1:]
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=IGNORE, reduction="sum")
    return nll, (targets != IGNORE).sum()


@torch.inference_mode()
def perplexity(model, tokenizer, examples, batch_size):
    """exp(mean NLL per response token) over (ids, labels) examples, and the token count."""
    model.eval()
    total, count = 0.0, 0
    bar = tqdm(total=len(examples), desc="perplexity", unit="response", mininterval=5)  # ETA in responses, not batches
    for batch in length_batches([len(ids) for ids, _ in examples], batch_size):
        nll, n = token_losses(model, *device.inputs_for(model, collate(tokenizer, [examples[i] for i in batch])))
        total, count = total + nll.item(), count + n.item()
        bar.update(len(batch))
    bar.close()
    return float(torch.tensor(total / count).exp()), count


@torch.inference_mode()
def generate(model, tokenizer, prompts, settings, seed, samples=1, desc="generating"):
    """`samples` responses per prompt (prompt-major order); greedy unless settings say sample.
    One seed for the whole call and a fixed batch order: the same responses on every CPU run."""
    model.eval()
    tokenizer.padding_side = "left"  # new tokens must follow every prompt directly
    torch.manual_seed(seed)
    sampling = settings["do_sample"]
    # the KV cache is what makes decoding fast; training and scoring forwards turn it off
    options = {"do_sample": sampling, "max_new_tokens": settings["max_new_tokens"], "num_return_sequences": samples,
               "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id, "use_cache": True}
    if sampling:
        options.update(temperature=settings["temperature"], top_p=settings["top_p"])
    responses = []
    size = settings["batch_size"]
    bar = tqdm(total=len(prompts), desc=desc, unit="prompt", mininterval=5)  # ETA in prompts, not batches
    for start in range(0, len(prompts), size):
        batch = device.inputs_for(model, tokenizer(prompts[start:start + size], return_tensors="pt", padding=True))
        out = model.generate(**batch, **options)
        new = out[:, batch["input_ids"].shape[1]:]
        responses += [text.strip() for text in tokenizer.batch_decode(new, skip_special_tokens=True)]
        bar.update(len(batch["input_ids"]))
    bar.close()
    tokenizer.padding_side = "right"
    return responses
