"""A tiny causal LM made on this machine, for tests, the demo and hosts without a GPU.

A byte-level BPE tokenizer is trained on the given texts (the project's examples, or the bundled
banking77 sample) and a randomly initialized Llama-architecture model with a few small layers is
built from a transformers config; both are saved to a folder that
`AutoModelForCausalLM.from_pretrained` and `AutoTokenizer.from_pretrained` load. No weights are
downloaded. Trained with LoRA it learns a label scheme in seconds on a CPU; it is not a language
model anyone would deploy.

The tokenizer carries a chat template (`CHAT_TEMPLATE`), so trainers that take conversations
(TRL's `SFTTrainer`, axolotl, LLaMA-Factory) accept it. It renders Finch's plain prompt format
(training/prompts.py), a single-turn conversation token for token, so it trains the same through
Finch and through them; every assistant answer ends with the end token (an earlier turn's too,
where the plain format has none) and is marked, with it, as `{% generation %}`, so
`return_assistant_tokens_mask` (TRL's `assistant_only_loss`) supervises the answers alone.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BOS, EOS, PAD, UNK = "<|bos|>", "<|eos|>", "<|pad|>", "<|unk|>"
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "curation" / "sample_data"
# The tokenizer learns the bundled banking77 rows: the 77-intent sample and the demo's eight intents.
SAMPLES = (SAMPLE_DATA / "banking77_sample.csv", SAMPLE_DATA / "banking77_demo.csv")


# What the tiny model trains well with, written beside it as its recommended settings (finch.json,
# training/base_models.py) and used by the demo: a random tiny model learns little through a small
# adapter at LoRA's usual 2e-4 (eval loss falls a few percent); a wide one (r=64) at 5e-3 for 30
# epochs takes it from 0 to about 30-40% accuracy on the demo's held-out split.
RECOMMENDED_HYPERPARAMETERS: dict[str, Any] = {
    "epochs": 30,
    "batch_size": 16,
    "learning_rate": 5e-3,
    "early_stopping_patience": 0,
}
RECOMMENDED_LORA: dict[str, Any] = {"r": 64, "alpha": 128}


# Finch's plain format as a template: {system}\n\n, ### Input:\n{user}\n\n, ### Output:\n{answer}<eos>;
# the roles Finch writes (curation.services.content.CHAT_ROLES) and no other.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('Unknown role ' ~ message['role'] ~ ': this template renders system, user and assistant.') }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'system' %}{{- message['content'] + '\n\n' }}"
    "{%- elif message['role'] == 'user' %}{{- '### Input:\n' + message['content'] + '\n\n' }}"
    "{%- else %}{{- '### Output:\n' }}{% generation %}{{- message['content'] + eos_token }}{% endgeneration %}"
    "{%- if not loop.last %}{{- '\n\n' }}{% endif %}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '### Output:\n' }}{% endif %}"
)


@dataclass(frozen=True)
class TinyShape:
    vocab_size: int = 2048
    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    intermediate_size: int = 128
    max_positions: int = 1024
    initializer_range: float = 0.3


def sample_texts() -> list[str]:
    """The bundled banking77 rows' texts and labels."""
    texts: list[str] = []
    for sample in SAMPLES:
        with sample.open(newline="", encoding="utf-8") as handle:
            texts += [value for row in csv.DictReader(handle) for value in row.values() if value]
    return texts


def make_tiny_model(
    folder: Path, texts: Iterable[str], shape: TinyShape = TinyShape(), seed: int = 0
) -> Path:
    """Write a tokenizer trained on `texts` and a tiny random model to `folder`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(list(texts), shape.vocab_size)
    tokenizer.save_pretrained(str(folder))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.heads,
        max_position_embeddings=shape.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        # LoRA leaves the (tied) output layer alone; with the usual 0.02 its logits could hardly
        # leave uniform, and the model could never answer with confidence, however it is tuned.
        initializer_range=shape.initializer_range,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(str(folder))
    recommend(folder)
    return folder


def recommend(folder: Path) -> Path:
    """Write the tiny model's recommended training settings into its folder."""
    from training.base_models import recommended_write

    return recommended_write(folder, hyperparameters=RECOMMENDED_HYPERPARAMETERS, lora=RECOMMENDED_LORA)


def train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS, UNK],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: no text is unknown
        show_progress=False,
    )
    core.train_from_iterator(texts or [""], trainer=trainer)
    bos = core.token_to_id(BOS)
    core.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, bos)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def chat_template_add(folder: Path) -> bool:
    """Give a tiny model made before it had one the chat template; False when it has one."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if tokenizer.chat_template:
        return False
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(folder))
    return True
