"""The bundled GGUF file made into a model folder that loads and answers like an instruct model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training.gguf import GGUFError, gguf_to_folder, smollm2_gguf_path


def test_a_missing_file_is_refused_and_nothing_written(tmp_path: Path) -> None:
    with pytest.raises(GGUFError, match="no such file"):
        gguf_to_folder(tmp_path / "absent.gguf", tmp_path / "model")
    assert not any(tmp_path.iterdir())


def test_a_file_that_is_not_gguf_leaves_no_partial_folder(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all")
    with pytest.raises(GGUFError, match="cannot read it"):
        gguf_to_folder(bogus, tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bogus.gguf"]


def test_an_existing_folder_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    with pytest.raises(GGUFError, match="already exists"):
        gguf_to_folder(smollm2_gguf_path(), tmp_path / "model")


def test_smollm2_converts_to_a_folder_with_its_chat_template(smollm2_folder: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(smollm2_folder)
    tokenizer = AutoTokenizer.from_pretrained(smollm2_folder)
    assert config.model_type == "llama" and not hasattr(config, "quantization_config")
    assert (smollm2_folder / "model.safetensors").is_file()
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    assert tokenizer.convert_ids_to_tokens(tokenizer.eos_token_id) == "<|im_end|>"


def test_smollm2_answers_a_question_and_stops(smollm2_folder: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(smollm2_folder)
    tokenizer = AutoTokenizer.from_pretrained(smollm2_folder)
    messages = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    prompt: Any = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    output = model.generate(**prompt, max_new_tokens=12, do_sample=False)
    answer = str(tokenizer.decode(output[0][prompt["input_ids"].shape[1] :]))
    assert "Paris" in answer and answer.endswith("<|im_end|>")
