#!/usr/bin/python3
# Writes a tiny random-weight llama GGUF (64-dim, 2 layers, F32, about 17 MB) with llama.cpp's
# bundled SPM vocab, for tests against a real llama-server. Usage: tiny-gguf.py LLAMA_SRC OUT
#
# A random model emits anything, and llama-server fails a stream with a 500 when byte tokens
# form invalid UTF-8. So every token that is not a normal text piece (byte, control, unknown:
# EOS too) gets a large negative output logit: residual dimension 0 holds a constant that no
# layer writes (zero rows in attn_output and ffn_down), and those tokens' output rows weigh it
# -50. The model then only emits text pieces and never stops early: a completion is exactly
# max_tokens long.
import sys

import numpy as np

src, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, src + "/gguf-py")
import gguf  # noqa: E402

N_EMBD, N_LAYER, N_HEAD, N_FF, N_CTX = 64, 2, 4, 128, 4096

vocab = gguf.GGUFReader(src + "/models/ggml-vocab-llama-spm.gguf")


def field(name):
    f = vocab.fields[name]
    return [f.parts[i] for i in f.data]


tokens = [bytes(p) for p in field("tokenizer.ggml.tokens")]
scores = [float(p[0]) for p in field("tokenizer.ggml.scores")]
types = [int(p[0]) for p in field("tokenizer.ggml.token_type")]
n_vocab = len(tokens)

rng = np.random.default_rng(20)


def rand(*shape, scale=0.05):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


w = gguf.GGUFWriter(out, "llama")
w.add_name("tiny")
w.add_context_length(N_CTX)
w.add_embedding_length(N_EMBD)
w.add_block_count(N_LAYER)
w.add_feed_forward_length(N_FF)
w.add_head_count(N_HEAD)
w.add_head_count_kv(N_HEAD)
w.add_rope_dimension_count(N_EMBD // N_HEAD)
w.add_layer_norm_rms_eps(1e-5)
w.add_file_type(0)
w.add_tokenizer_model("llama")
w.add_token_list(tokens)
w.add_token_scores(scores)
w.add_token_types(types)
w.add_bos_token_id(1)
w.add_eos_token_id(2)
w.add_add_bos_token(True)
w.add_chat_template(
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

embd = rand(n_vocab, N_EMBD)
embd[:, 0] = 1.0
w.add_tensor("token_embd.weight", embd)
w.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
outw = rand(n_vocab, N_EMBD, scale=0.5)
outw[:, 0] = 0.0
for i, t in enumerate(types):
    if t != int(gguf.TokenType.NORMAL):
        outw[i, 0] = -50.0
w.add_tensor("output.weight", outw)
for b in range(N_LAYER):
    w.add_tensor(f"blk.{b}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    for n in ("q", "k", "v"):
        w.add_tensor(f"blk.{b}.attn_{n}.weight", rand(N_EMBD, N_EMBD))
    o = rand(N_EMBD, N_EMBD)
    o[0, :] = 0.0
    w.add_tensor(f"blk.{b}.attn_output.weight", o)
    w.add_tensor(f"blk.{b}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    w.add_tensor(f"blk.{b}.ffn_gate.weight", rand(N_FF, N_EMBD))
    w.add_tensor(f"blk.{b}.ffn_up.weight", rand(N_FF, N_EMBD))
    d = rand(N_EMBD, N_FF)
    d[0, :] = 0.0
    w.add_tensor(f"blk.{b}.ffn_down.weight", d)

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
