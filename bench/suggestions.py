"""Suggestion runs (issue 23): suggestions per second for short real inputs, batched by a token
budget as a suggestion run batches them, against one input at a time, in the same run.

    .venv/bin/python bench/suggestions.py [--inputs 10000] [--baseline-inputs 200] [--labels 77]
        [--task classification|generation] [--new-tokens 16] [--model tiny|qwen2-0.5b|PATH]
        [--batch-tokens 8192] [--threads N]

Inputs: real banking77 customer messages (bench/data, train and test splits, distinct,
shuffled with a fixed seed), asked as a suggestion run asks them: `evaluation.services.conversation`
of a `curation.freeze.formats.Item` with the system prompt "Classify the banking message into one
intent." and no few-shot examples. Classification scores every label of the set (banking77's 77
intents, or the first --labels of them) as the answer; `--task generation` generates up to
--new-tokens tokens greedily with `evaluation.generate.scored_answers` instead.

Model: `tiny` (the default) is the model `manage.py make_tiny_model` makes (training/tiny.py, the
default TinyShape: 2 layers, hidden 64, a 2,048-token BPE trained on the bundled banking77 sample);
`qwen2-0.5b` is the real Qwen2-0.5B shape with random weights (bench/train_gpu.py's, nothing is
downloaded), for a GPU host; a PATH is any model folder `AutoModelForCausalLM` loads. Loaded with
`evaluation.generate.load`, as a suggestion run loads it (bfloat16 on GPUs that have it).

Timed, both through `evaluation.suggest.propose`, the code a suggestion run calls:
- batched: every input in one call with `batch_tokens` = settings.FINCH_EVAL_BATCH_TOKENS (rows of
  about one length packed up to that many tokens, padding included);
- baseline: one input a call, on the first --baseline-inputs inputs.
Reported: suggestions per second of each and the ratio, the load average around each phase, and a
check that both give the same suggestions on the baseline's inputs (the same label or text;
confidences within 1e-4). After a short untimed warm-up; CUDA is synchronized by reading results.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: nothing is downloaded
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("FINCH_HOME", tempfile.mkdtemp(prefix="finch-bench-suggestions-"))

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

import torch  # noqa: E402
from django.conf import settings  # noqa: E402

from bench.public_data import banking77, banking77_labels  # noqa: E402
from bench.train_gpu import SYSTEM_PROMPT, device_name, make_model, versions  # noqa: E402
from bench.ui import cpu_summary  # noqa: E402
from curation.freeze.formats import Item, Rendering  # noqa: E402
from evaluation import generate  # noqa: E402
from evaluation.engines import TransformersEngine  # noqa: E402
from evaluation.services import conversation  # noqa: E402
from evaluation.suggest import Proposed, propose  # noqa: E402
from training import modeling  # noqa: E402
from training.prompts import Messages, prompt_text  # noqa: E402
from training.tiny import make_tiny_model, sample_texts  # noqa: E402

SEED = 0
TOLERANCE = 1e-4


def messages(count: int) -> list[str]:
    """`count` distinct real customer messages from banking77's train and test splits."""
    seen: dict[str, None] = {}
    for split in ("train", "test"):
        seen.update((text.strip(), None) for text, _ in banking77(split) if text.strip())
    texts = list(seen)
    if count > len(texts):
        raise SystemExit(f"--inputs {count}: banking77 has {len(texts):,} distinct messages")
    random.Random(SEED).shuffle(texts)
    return texts[:count]


def conversations(texts: list[str]) -> list[Messages]:
    """Each message as a suggestion run asks it (no few-shot examples)."""
    rendering = Rendering(system_prompt=SYSTEM_PROMPT, target_behavior="")
    return [
        conversation(
            Item(example_id=index, split="", input=text, output="", metadata="{}"), rendering, shots=[]
        )
        for index, text in enumerate(texts)
    ]


def model_folder(kind: str, work: Path) -> tuple[str, str]:
    """The model's folder and how it was made."""
    if kind == "tiny":
        make_tiny_model(work / "tiny", sample_texts())
        return str(work / "tiny"), "tiny (training/tiny.py, default TinyShape, random weights)"
    if kind == "qwen2-0.5b":
        rows = [(text, "") for text in messages(2000)]
        count = make_model(work / kind, kind, rows, modeling.device())
        return str(work / kind), f"qwen2-0.5b shape, {count:,} parameters, random weights"
    if not (Path(kind) / "config.json").exists():
        raise SystemExit(f"--model {kind}: not tiny, qwen2-0.5b or a model folder with a config.json")
    return kind, f"{kind} (a model folder)"


def timed(call: Callable[[], list[Proposed]]) -> tuple[list[Proposed], float]:
    start = time.perf_counter()
    found = call()  # results are Python floats: a GPU has finished when they are read
    return found, time.perf_counter() - start


def differences(batched: list[Proposed], alone: list[Proposed]) -> tuple[int, float]:
    """How many suggestions differ in their output, and the largest confidence difference."""
    outputs = sum(one.output != other.output for one, other in zip(batched, alone, strict=True))
    gap = max(
        (abs(one.confidence - other.confidence) for one, other in zip(batched, alone, strict=True)),
        default=0.0,
    )
    return outputs, gap


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def bench(args: argparse.Namespace, work: Path) -> None:
    print(cpu_summary(), flush=True)
    print(f"{load()} at the start; torch threads {torch.get_num_threads()}; {versions()}", flush=True)
    folder, made = model_folder(args.model, work)
    model, tokenizer = generate.load(folder, None)
    engine = TransformersEngine(model, tokenizer)
    categories = banking77_labels()
    labels = categories[: args.labels]
    asked = conversations(messages(args.inputs))
    prompt_tokens = [len(tokenizer(prompt_text(tokenizer, c))["input_ids"]) for c in asked[:1000]]
    print(f"model {made}; device {device_name(modeling.device())}; {next(model.parameters()).dtype}")
    what = (
        f"{len(labels)} labels scored" if args.task == "classification" else f"{args.new_tokens} new tokens"
    )
    print(
        f"{len(asked):,} banking77 messages, prompts {sum(prompt_tokens) / len(prompt_tokens):.0f} tokens"
        f" on average; {args.task}: {what}; batch_tokens {args.batch_tokens}",
        flush=True,
    )

    def suggest(batch: list[Messages]) -> list[Proposed]:
        return propose(
            engine,
            batch,
            task_type=args.task,
            labels=labels,
            schema=None,
            new_tokens=args.new_tokens,
            batch_tokens=args.batch_tokens,
        )

    suggest(asked[:8])  # warm-up, not timed
    subset = asked[: args.baseline_inputs]
    alone, alone_s = timed(lambda: [found for one in subset for found in suggest([one])])
    alone_rate = len(subset) / alone_s
    print(
        f"one input at a time: {len(subset):,} in {alone_s:.1f} s, {alone_rate:,.2f}/s; {load()}", flush=True
    )
    batched, batched_s = timed(lambda: suggest(asked))
    batched_rate = len(asked) / batched_s
    print(f"batched: {len(asked):,} in {batched_s:.1f} s, {batched_rate:,.2f}/s; {load()}", flush=True)
    if args.task == "generation":  # a model that ends its answers early makes generation cheap
        answered = [len(found.raw) for found in batched]
        print(
            f"answers {sum(answered) / len(answered):.0f} characters on average ({args.new_tokens} tokens at most)"
        )
    outputs, gap = differences(batched[: len(subset)], alone)
    same = "same" if outputs == 0 and gap <= TOLERANCE else "DIFFERENT"
    print(
        f"check on the first {len(subset):,}: {same} suggestions ({outputs} outputs differ,"
        f" largest confidence difference {gap:.1e}, tolerance {TOLERANCE:.0e})"
    )
    print(
        f"\n{args.task}, {args.model}: batched {batched_rate:,.2f} suggestions/s vs one at a time"
        f" {alone_rate:,.2f}/s: {batched_rate / alone_rate:.2f}x"
        f" (10,000 inputs: {10_000 / batched_rate / 60:.1f} min batched)"
    )
    if same != "same":
        raise SystemExit("batched and one-at-a-time suggestions differ")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--baseline-inputs", type=int, default=200)
    parser.add_argument("--labels", type=int, default=77, help="the first N of banking77's 77 intents")
    parser.add_argument("--task", default="classification", choices=["classification", "generation"])
    parser.add_argument("--new-tokens", type=int, default=16, help="generation only")
    parser.add_argument("--model", default="tiny", help="tiny, qwen2-0.5b (random weights) or a model folder")
    parser.add_argument("--batch-tokens", type=int, default=int(settings.FINCH_EVAL_BATCH_TOKENS))
    parser.add_argument("--threads", type=int, help="torch threads (default: as torch starts)")
    args = parser.parse_args(argv)
    if not 1 <= args.labels <= 77 or args.baseline_inputs > args.inputs:
        parser.error("--labels is 1 to 77 and --baseline-inputs at most --inputs")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # their progress bars would bury the figures
    transformers_logging.disable_progress_bar()
    with tempfile.TemporaryDirectory(prefix="finch-bench-suggestions-") as work:
        bench(args, Path(work))


if __name__ == "__main__":
    main()
