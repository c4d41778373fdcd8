"""Batched reward inference: texts sorted by length so each batch pads to its own longest text."""

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from more_lib.core import device
from more_lib.reward import models


@torch.inference_mode()
def score_texts(model, tokenizer, texts, max_length, batch_size, bucketing=True, desc="scoring", packed=False):
    """The reward of each text, in input order; `packed`: each batch padding-free (models.encode_texts)."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    rewards = np.empty(len(encoded))
    model.eval()
    for batch in tqdm(models.length_batches([len(e) for e in encoded], batch_size, bucketing), desc=desc, mininterval=5):
        ids = [encoded[i] for i in batch]
        inputs = models.pack(ids) if packed else models.pad(ids, tokenizer.pad_token_id)
        r, _ = models.rewards_and_features(model, device.inputs_for(model, inputs))
        rewards[batch] = r.float().cpu().numpy()
    return rewards


def score_pairs(model, tokenizer, records, max_length, batch_size, desc="scoring", packed=False):
    """Per-pair rewards of chosen and rejected: a tidy frame id, r_chosen, r_rejected."""
    texts = [r["prompt"] + r[side] for side in ("chosen", "rejected") for r in records]
    rewards = score_texts(model, tokenizer, texts, max_length, batch_size, desc=desc, packed=packed)
    return pd.DataFrame({"id": [r["id"] for r in records],
                         "r_chosen": rewards[:len(records)], "r_rejected": rewards[len(records):]})
