"""Model factory: tokenizers (and, in later stages, reward models and policies)."""

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

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
