"""LoRA training throughput and memory: Finch's training loop against plain transformers Trainer +
peft, on the same model, data and adapter, in one run.

    .venv/bin/python bench/train_gpu.py [--model qwen2-0.5b|tiny] [--steps 30] [--warmup 3]
        [--batch-size 8] [--finch-batch-sizes 8,32] [--max-examples 4096]
        [--baseline-lora same|peft-defaults]

Model: `qwen2-0.5b` (the default on a GPU host) is a transformers Qwen2Config with the real
Qwen2-0.5B shape (hidden 896, 24 layers, 14 heads, 2 KV heads, MLP 4864, vocab 151,936, tied
embeddings; about 494M parameters), randomly initialized, since nothing may be downloaded; the
tokenizer is a byte-level BPE trained here on the data (its vocabulary is smaller than the
model's, which changes nothing in the cost). `tiny` (the default on CPU) is a two-layer model of
the same architecture, fast enough for CI. Both are saved once to a temporary folder, so each row
loads the same weights the way its side would.

Data: banking77's train split (bundled in bench/data) as Finch
renders a classification example: the system prompt "Classify the banking message into one
intent.", the message as the user turn, the intent as the answer; only the answer is supervised.

Rows, each on a fresh model with the same seed, the same examples and the same adapter (Finch's
defaults: r=16, alpha=32, dropout 0.05, every linear layer; `--baseline-lora peft-defaults` gives
the baseline peft's own defaults instead, r=8 on q_proj and v_proj, which is less work):
- baseline: `AutoModelForCausalLM.from_pretrained` in fp32 (transformers picks SDPA attention by
  itself), `get_peft_model`, `Trainer` with its defaults (fused AdamW, random batches) but for
  the batch size, the number of steps, and no logging, saving or reporting; batches padded by
  `DataCollatorForSeq2Seq` (labels padded with -100). Timed by a callback from the end of the
  warmup steps to the end of the last step.
- Finch: `training.modeling.base_load` (bfloat16 weights and bfloat16 autocast on GPUs that have
  it, full precision on CPU; SDPA attention) and `LoraLoop` optimizer steps over its
  length-grouped batches, at the baseline's batch size and at the larger ones of
  `--finch-batch-sizes` (a row that runs out of GPU memory says so and the run goes on).
Measured per row, over `--steps` optimizer steps after `--warmup`: tokens/s (tokens that are not
padding, per second of wall time, CUDA synchronized at both ends), the share of padding in the
batches, peak memory (on a GPU torch.cuda.max_memory_allocated, reset before each row's model is
loaded; on CPU the process's resident set, sampled every 5 ms, which includes the Python process
itself), and the speedup over the baseline row.

Packing is left out: packing short examples into long rows without cross-contamination needs
either flash-attention's variable-length kernel (not installed here) or SDPA with a block-diagonal
mask, which rules out SDPA's flash kernel and spends attention on the masked blocks. Length
grouping is the substitute; the padding column shows the most packing could still win.

Targets (issue): no figure is set; the run reports Finch's speedup at the baseline's batch size and
at the larger ones, and their peak memory. `--model tiny --steps 5` runs in well under a minute on
a 2-core CPU; tests/training/test_bench_train_gpu.py runs it in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import os
import resource
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: nothing is downloaded
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from bench.public_data import banking77
from training import modeling
from training.hyperparameters import hyperparameters_resolve, lora_resolve
from training.loop import LoraLoop, Plan, Point, epoch_batches
from training.prompts import IGNORE, Encoded, encode
from training.tiny import train_tokenizer

SYSTEM_PROMPT = "Classify the banking message into one intent."
MODELS = ("qwen2-0.5b", "tiny")
SEED = 0


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int | None  # None: the tokenizer's size
    tokenizer_vocab: int


SHAPES = {
    # Qwen2-0.5B's config.json, less the weights.
    "qwen2-0.5b": Shape(
        hidden=896, layers=24, heads=14, kv_heads=2, intermediate=4864, vocab=151_936, tokenizer_vocab=16_384
    ),
    "tiny": Shape(
        hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, vocab=None, tokenizer_vocab=1024
    ),
}


@dataclass(frozen=True)
class Row:
    name: str
    batch_size: int
    tokens: int  # not padding, in the measured steps
    padded: int  # every position of the measured batches, padding included
    seconds: float
    peak_mb: float
    note: str = ""

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def padding_share(self) -> float:
        return 1 - self.tokens / self.padded if self.padded else 0.0


# -- data and model --------------------------------------------------------------------------


def banking_rows() -> list[tuple[str, str]]:
    """(message, intent) pairs: all of banking77's train split (bundled in bench/data)."""
    return [(text.strip(), intent) for text, intent in banking77("train") if text.strip()]


def examples_of(tokenizer: Any, rows: list[tuple[str, str]]) -> list[Encoded]:
    return [
        encode(
            tokenizer,
            [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": text},
                {"role": "assistant", "content": label},
            ],
        )
        for text, label in rows
    ]


def make_model(folder: Path, kind: str, rows: list[tuple[str, str]], on: torch.device) -> int:
    """Save a tokenizer trained on `rows` and a random model of `kind` to `folder`; returns the
    model's parameter count."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    shape = SHAPES[kind]
    texts = [SYSTEM_PROMPT, *(text for text, _ in rows), *sorted({label for _, label in rows})]
    tokenizer = train_tokenizer(texts, shape.tokenizer_vocab)
    tokenizer.save_pretrained(str(folder))
    config = Qwen2Config(
        vocab_size=shape.vocab or len(tokenizer),
        hidden_size=shape.hidden,
        intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads,
        max_position_embeddings=32_768,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(SEED)
    with on:  # random init on the GPU takes a moment, 494M parameters on a CPU much longer
        model = Qwen2ForCausalLM(config)
    model.save_pretrained(str(folder))  # fp32: the baseline loads it as it is, Finch casts it
    count = sum(parameter.numel() for parameter in model.parameters())
    del model
    release()
    return count


def release() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def synchronize(on: torch.device) -> None:
    if on.type == "cuda":
        torch.cuda.synchronize()


# -- memory ----------------------------------------------------------------------------------


class PeakMemory:
    """Peak memory of what runs inside: torch's GPU allocations, else this process's RSS."""

    def __init__(self, on: torch.device) -> None:
        self.on = on
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    @staticmethod
    def kind(on: torch.device) -> str:
        if on.type == "cuda":
            return "torch.cuda.max_memory_allocated, per row"
        if Path("/proc/self/statm").exists():
            return "process RSS sampled every 5 ms, per row (includes Python and the libraries)"
        return "process peak RSS (getrusage), since the process started"

    def __enter__(self) -> PeakMemory:
        if self.on.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        elif Path("/proc/self/statm").exists():
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.on.type == "cuda":
            self.peak_bytes = torch.cuda.max_memory_allocated()
        elif self._sampler is not None:
            self._stop.set()
            self._sampler.join()
        else:  # no /proc: the process's peak so far, in kB on Linux and bytes on macOS
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.peak_bytes = peak if sys.platform == "darwin" else peak * 1024

    @property
    def megabytes(self) -> float:
        return self.peak_bytes / 2**20

    def _sample(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        statm = Path("/proc/self/statm")
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, int(statm.read_text().split()[1]) * page)
            self._stop.wait(0.005)


# -- baseline: transformers Trainer + peft ---------------------------------------------------


class _Features(torch.utils.data.Dataset[dict[str, list[int]]]):
    def __init__(self, examples: list[Encoded]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        example = self.examples[index]
        ids = example.input_ids
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": example.labels}


class _CountingCollator:
    """Pads as the wrapped collator does and keeps (tokens, positions) of each batch, in the
    order the Trainer asks for them: batch k is the one of step k + 1."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batches: list[tuple[int, int]] = []

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        batch = self.inner(features)
        mask = batch["attention_mask"]
        self.batches.append((int(mask.sum()), mask.numel()))
        return batch


def _step_clock(warmup: int, steps: int, on: torch.device) -> Any:
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        """Wall time from the end of the warmup steps to the end of the last step."""

        started = 0.0
        seconds = 0.0

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == warmup:
                synchronize(on)
                self.started = time.perf_counter()
            elif state.global_step == warmup + steps:
                synchronize(on)
                self.seconds = time.perf_counter() - self.started

    return StepClock()


def baseline_lora(which: str) -> Any:
    from peft import LoraConfig

    if which == "peft-defaults":
        return LoraConfig(task_type="CAUSAL_LM")
    lora = lora_resolve(None)
    return LoraConfig(
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=lora["target_modules"],
        task_type="CAUSAL_LM",
    )


def baseline_row(folder: Path, examples: list[Encoded], args: argparse.Namespace, on: torch.device) -> Row:
    from peft import get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        PrinterCallback,
        Trainer,
        TrainingArguments,
    )

    with PeakMemory(on) as memory, tempfile.TemporaryDirectory() as output:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
        torch.manual_seed(SEED)
        model = get_peft_model(model, baseline_lora(args.baseline_lora))
        collator = _CountingCollator(DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE))
        clock = _step_clock(args.warmup, args.steps, on)
        training = TrainingArguments(
            output_dir=output,
            per_device_train_batch_size=args.batch_size,
            max_steps=args.warmup + args.steps,
            logging_strategy="no",
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,  # keeps the output a table; costs nothing either way
            seed=SEED,
        )
        trainer = Trainer(
            model=model,
            args=training,
            train_dataset=_Features(examples),
            data_collator=collator,
            callbacks=[clock],
        )
        trainer.remove_callback(PrinterCallback)  # it prints the run's summary dict amid the table
        trainer.train()
        attention = model.config._attn_implementation
        del trainer, model
        release()
    measured = collator.batches[args.warmup : args.warmup + args.steps]
    return Row(
        name="transformers Trainer + peft (fp32)",
        batch_size=args.batch_size,
        tokens=sum(tokens for tokens, _ in measured),
        padded=sum(positions for _, positions in measured),
        seconds=clock.seconds,
        peak_mb=memory.megabytes,
        note=f"attention {attention}, random batches",
    )


# -- Finch: LoraLoop -------------------------------------------------------------------------


class _Silent:
    """LoraLoop's reporter; the benchmark drives its optimizer steps directly, so nothing is told."""

    def started(self, total_steps: int, resumed_from: int | None) -> None: ...
    def point(self, point: Point) -> None: ...
    def step_done(self, step: int) -> None: ...
    def cancel_requested(self) -> bool:
        return False

    def checkpoint_saved(self, folder: Path, step: int) -> None: ...
    def best_saved(self, folder: Path, step: int, eval_loss: float) -> None: ...


def endless_batches(lengths: list[int], batch_size: int) -> Iterator[list[int]]:
    """LoraLoop's batches, epoch after epoch, so any number of steps can be measured."""
    for epoch in itertools.count():
        yield from epoch_batches(lengths, batch_size, SEED, epoch)


def finch_row(
    folder: Path, examples: list[Encoded], batch_size: int, args: argparse.Namespace, on: torch.device
) -> Row:
    autocast = modeling.compute_dtype(on)
    name = f"Finch LoraLoop ({'bf16' if autocast else 'fp32'}, length-grouped)"
    out_of_memory = False
    try:
        with PeakMemory(on) as memory:
            tokens, padded, seconds = _finch_steps(folder, examples, batch_size, args, on)
    except torch.cuda.OutOfMemoryError:
        out_of_memory = True
    if out_of_memory:  # released here, once the exception no longer holds the step's tensors
        release()
        return Row(name, batch_size, 0, 0, 0.0, memory.megabytes, note="out of GPU memory")
    return Row(name, batch_size, tokens, padded, seconds, memory.megabytes, note="attention sdpa")


def _finch_steps(
    folder: Path, examples: list[Encoded], batch_size: int, args: argparse.Namespace, on: torch.device
) -> tuple[int, int, float]:
    """(tokens, positions, seconds) of the measured steps."""
    tokenizer = modeling.tokenizer_load(str(folder))
    model = modeling.base_load(str(folder), on)
    torch.manual_seed(SEED)
    model = modeling.lora_attach(model, lora_resolve(None))
    plan = Plan.of(hyperparameters_resolve({"batch_size": batch_size, "epochs": 1}, len(examples)))
    loop = LoraLoop(
        model,
        examples,
        [],
        plan,
        _Silent(),
        pad_id=tokenizer.pad_token_id,
        device=on,
        autocast_dtype=modeling.compute_dtype(on),
    )
    lengths = [len(example.input_ids) for example in examples]
    batches = endless_batches(lengths, batch_size)
    try:
        for batch in itertools.islice(batches, args.warmup):
            loop.train_step([batch])
        synchronize(on)
        started = time.perf_counter()
        tokens = padded = 0
        for batch in itertools.islice(batches, args.steps):
            tokens += loop.train_step([batch])[2]
            padded += len(batch) * max(lengths[index] for index in batch)
        synchronize(on)
        return tokens, padded, time.perf_counter() - started
    finally:
        del loop, model
        release()


# -- the run ---------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", choices=MODELS, default="qwen2-0.5b" if torch.cuda.is_available() else "tiny"
    )
    parser.add_argument("--steps", type=int, default=30, help="measured optimizer steps per row")
    parser.add_argument("--warmup", type=int, default=3, help="steps before the clock starts (at least 1)")
    parser.add_argument("--batch-size", type=int, default=8, help="the baseline's and Finch's first row's")
    parser.add_argument(
        "--finch-batch-sizes", default="8,32", help="Finch rows, comma-separated; the baseline's is added"
    )
    parser.add_argument("--max-examples", type=int, default=4096, help="banking77 examples encoded")
    parser.add_argument("--baseline-lora", choices=["same", "peft-defaults"], default="same")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 1 or args.batch_size < 1:
        parser.error("--steps, --warmup and --batch-size must be at least 1")
    sizes = {int(size) for size in args.finch_batch_sizes.split(",") if size.strip()}
    args.finch_sizes = sorted(sizes | {args.batch_size})
    return args


def versions() -> str:
    found = []
    for package in ("torch", "transformers", "peft"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{package} {metadata.version(package)}")
    return ", ".join(found)


def device_name(on: torch.device) -> str:
    if on.type == "cuda":
        return torch.cuda.get_device_name(on)
    return f"cpu ({torch.get_num_threads()} torch threads)"


def print_table(rows: list[Row]) -> None:
    baseline = rows[0].tokens_per_s
    print(f"\n{'row':<44} {'batch':>5} {'tokens/s':>10} {'padding':>8} {'peak MB':>9} {'speedup':>8}  note")
    for row in rows:
        speedup = row.tokens_per_s / baseline if baseline else 0.0
        print(
            f"{row.name:<44} {row.batch_size:>5} {row.tokens_per_s:>10,.0f} {row.padding_share:>8.1%} "
            f"{row.peak_mb:>9,.0f} {speedup:>7.2f}x  {row.note}"
        )


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse(argv)
    from transformers.utils import logging as transformers_logging

    # Their per-run notices and progress bars would bury the table.
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    warnings.filterwarnings(
        "ignore", message=".*'pin_memory' argument is set as true.*", category=UserWarning
    )
    on = modeling.device()
    data = banking_rows()
    with tempfile.TemporaryDirectory() as folder:
        parameters = make_model(Path(folder), args.model, data, on)
        tokenizer = modeling.tokenizer_load(folder)
        examples = examples_of(tokenizer, data[: args.max_examples])
        lengths = [len(example.input_ids) for example in examples]
        print(f"device {device_name(on)}; {versions()}")
        print(f"model {args.model}: {parameters:,} parameters (random weights), tokenizer {len(tokenizer):,}")
        print(
            f"data {len(examples):,} banking77 examples, {sum(lengths) / len(lengths):.0f} tokens on average; "
            f"{args.warmup} warmup + {args.steps} measured steps per row; baseline LoRA {args.baseline_lora}"
        )
        print(f"memory: {PeakMemory.kind(on)}")
        rows = [baseline_row(Path(folder), examples, args, on)]
        rows.extend(finch_row(Path(folder), examples, size, args, on) for size in args.finch_sizes)
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
