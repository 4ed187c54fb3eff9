"""Tiny Llama checkpoints written to a folder as a user's download would be: safetensors, config
and a byte-level tokenizer (shared by the loading, memory-plan and hub tests)."""

from __future__ import annotations

import torch

from bench.scale_check import byte_tokenizer


def tiny_llama_folder(folder, *, layers: int, dtype=None, edit=None):
    """Save a seeded random Llama (hidden 64, vocab 300) to `folder`; `edit(model)` may change its
    weights first (under no_grad). Returns the model."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(hidden_size=64, intermediate_size=256, num_hidden_layers=layers, num_attention_heads=4,
                         num_key_value_heads=4, vocab_size=300, max_position_embeddings=128,
                         tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    if dtype is not None:
        model = model.to(dtype)
    if edit is not None:
        with torch.no_grad():
            edit(model)
    model.save_pretrained(folder)
    byte_tokenizer(folder)
    return model
