"""Writes a LLaMA-7B-shaped config.json with N layers: make_config.py DIR N"""
import json
import os
import sys

out, layers = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
               "hidden_size": 4096, "intermediate_size": 11008,
               "num_hidden_layers": layers, "num_attention_heads": 32,
               "num_key_value_heads": 32, "vocab_size": 32000,
               "max_position_embeddings": 2048, "rms_norm_eps": 1e-6,
               "rope_theta": 10000.0, "tie_word_embeddings": False,
               "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
               "rope_scaling": None}, f, indent=1)
