"""Model factory: tokenizers and reward models (policies come with the alignment stage)."""

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedTokenizerFast,
)

from more_lib.core import device
from more_lib.core.io import atomic_dir

SPECIAL_TOKENS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "bos_token": "[BOS]", "eos_token": "[EOS]"}


def train_word_tokenizer(texts, min_frequency=1):
    """A word-level tokenizer (split on whitespace) trained on `texts`, in Hugging Face format.

    Decoding joins words with single spaces, which is how synthetic texts are written, so
    decode(encode(text)) == text and the oracle can score generated text."""
    tokenizer = Tokenizer(models.WordLevel(unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(
        min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS.values())
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL_TOKENS)


def load_tokenizer(base):
    """The base model's tokenizer, set up for reward modelling: right padding, truncation from
    the left (the end of a dialogue, where the response is, matters most)."""
    # passed to from_pretrained (not set afterwards) so that save_pretrained keeps them
    tokenizer = AutoTokenizer.from_pretrained(
        base.get("tokenizer") or base["pretrained"], padding_side="right", truncation_side="left")
    if tokenizer.pad_token is None:  # Pythia and LLaMA ship without one
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def build_reward_model(base, tokenizer, seed, init=None):
    """A 1-label sequence classifier on the base, for training (fp32, on the job's device):
    pretrained weights (`init`, a causal LM the workflow pre-trained, else the base's hub id or
    folder) or a config (tiny models from scratch). The head is initialised under `seed`."""
    torch.manual_seed(seed)
    if init or "pretrained" in base:
        model = device.load(AutoModelForSequenceClassification, init or base["pretrained"], training=True,
                            num_labels=1)
    else:
        config = AutoConfig.for_model(**base["config"], vocab_size=len(tokenizer), num_labels=1)
        model = device.build(AutoModelForSequenceClassification, config, training=True)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def load_reward_model(path):
    """A trained reward-model folder for scoring (bf16 on a GPU, fp32 on the CPU)."""
    return device.load(AutoModelForSequenceClassification, path, training=False)


def encode_texts(tokenizer, texts, max_length, packed=False, buckets=1):
    """Token ids of `texts` as one batch. Padded: `input_ids` and `attention_mask` [B, L], right
    padding; with `buckets` > 1, that many padded batches of texts of similar length (bucket).
    Packed (padding-free): the texts one after another in one row, `input_ids` and `position_ids`
    [1, T] with positions restarting at each text, and `ends` [B], the index of each text's last
    token in that row."""
    sequences = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    if packed:
        return pack(sequences)
    return bucket(sequences, tokenizer.pad_token_id, buckets) if buckets > 1 else pad(sequences, tokenizer.pad_token_id)


def pad(sequences, pad_token_id):
    """Token id lists right-padded into one batch (see encode_texts): what tokenizer.pad returns,
    built in one numpy pass instead of its per-row Python (a tenth of a scoring job's time)."""
    lengths = np.array([len(ids) for ids in sequences])
    attention_mask = np.arange(lengths.max(initial=0)) < lengths[:, None]
    input_ids = np.full(attention_mask.shape, pad_token_id, dtype=np.int64)
    input_ids[attention_mask] = np.concatenate([np.asarray(ids, dtype=np.int64) for ids in sequences] or [[]])
    return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(attention_mask.astype(np.int64))}


def length_batches(lengths, batch_size, bucketing=True):
    """Index batches; with bucketing, neighbours in length share a batch (little padding)."""
    order = np.argsort(lengths, kind="stable") if bucketing else np.arange(len(lengths))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def bucket(sequences, pad_token_id, buckets):
    """The texts sorted by length into (at most) `buckets` padded batches, each padded to its own
    longest text, and `order`, which puts their rows back in input order. rewards_and_features runs
    them one after another: the rewards of one padded batch (each text's forward sees only its own
    tokens) for a fraction of the padding a batch of texts 14-54 tokens long carries (a third of a step)."""
    parts = length_batches([len(ids) for ids in sequences], -(-len(sequences) // buckets))
    return {"buckets": [pad([sequences[i] for i in part], pad_token_id) for part in parts],
            "order": torch.from_numpy(np.argsort(np.concatenate(parts), kind="stable"))}


def pack(sequences):
    """Token id lists packed into one row (see encode_texts)."""
    lengths = torch.tensor([len(ids) for ids in sequences])
    if (lengths == 0).any():
        raise ValueError("an empty text cannot be packed: it has no last token to read a reward at")
    return {"input_ids": torch.tensor([token for ids in sequences for token in ids]).unsqueeze(0),
            "position_ids": torch.cat([torch.arange(n) for n in lengths.tolist()]).unsqueeze(0),
            "ends": lengths.cumsum(0) - 1}


def rewards_and_features(model, encoded):
    """Rewards [B] and the pooled hidden states z [B, h] they are computed from, of a padded or
    packed or bucketed batch (encode_texts; other keys of `encoded`, e.g. the pairs' sources, are ignored).

    Goes through the model's own forward (so a DeepSpeed engine works as well). Padded: the model
    pools the head output at the last non-pad token; z is the final hidden state at that same token,
    the input of the linear head, for MORE's closed-form head gradients. Packed: the model is given
    position ids and no attention mask, which transformers reads as packed texts (attention kept
    within each text: a block-diagonal causal mask, or the varlen kernels of flash attention); the
    head's output at every token is taken from the head itself, as its pooling knows nothing of
    packing, and read at each text's last token. No KV cache: nothing decodes after this forward."""
    if "buckets" in encoded:
        parts = [rewards_and_features(model, batch) for batch in encoded["buckets"]]
        order = encoded["order"]
        return torch.cat([r for r, _ in parts])[order], torch.cat([z for _, z in parts])[order]
    if "ends" in encoded:
        per_token = {}
        hook = _classification_head(model).register_forward_hook(lambda _, __, out: per_token.update(logits=out))
        try:
            out = model(input_ids=encoded["input_ids"], position_ids=encoded["position_ids"],
                        output_hidden_states=True, use_cache=False)
        finally:
            hook.remove()
        ends = encoded["ends"]
        logits, z = per_token["logits"][0, ends], out.hidden_states[-1][0, ends]
    else:
        attention_mask = encoded["attention_mask"]
        out = model(input_ids=encoded["input_ids"], attention_mask=attention_mask, output_hidden_states=True,
                    use_cache=False)
        last = attention_mask.sum(dim=1) - 1  # right padding
        logits, z = out.logits, out.hidden_states[-1][torch.arange(len(last), device=last.device), last]
    # fp32 rewards whatever the compute dtype: the ranking loss and MORE's λ are computed from them
    return logits[:, 0].float(), z


def _classification_head(model):
    """The linear head of a Hugging Face *ForSequenceClassification decoder (`score`), inside a
    DeepSpeed engine too."""
    head = getattr(getattr(model, "module", model), "score", None)
    if head is None:
        raise TypeError(f"{type(model).__name__} has no `score` head: packed batches need a decoder's sequence classifier")
    return head


def save_pretrained(model, tokenizer, path, keep=()):
    """A plain Hugging Face folder that the Auto* classes (sequence classifier or causal LM) and
    AutoTokenizer load as it is; `keep`: entries of the folder to carry over (io.atomic_dir)."""
    with atomic_dir(path, keep) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
