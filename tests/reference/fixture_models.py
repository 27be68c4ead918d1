"""Model fixtures: builds the tiny random BLOOM checkpoints with transformers (fixed seed, weights
less trivial than HF's init, one planted BOS-sink head), saves them with save_pretrained in fp32 /
fp16 (bare tensor names) / bf16 / sharded, and writes models/<name>.expected.json from the files
as saved (shape, dtype, fnv1a64 of the float32 upcast, first 8 values)."""

import json
import math
import os
import shutil
import struct

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import BloomConfig, BloomForCausalLM, PreTrainedTokenizerFast

from fixture_util import first_values, fnv1a64_f32, generator_record, write_json

VOCAB = 4096
BOS_ID = 1

# name -> (hidden, n_head, n_layer, seed, planted (layer, head))
BASE_MODELS = {
    "tiny-h4": (32, 4, 2, 1001, (0, 2)),
    "tiny-h6": (48, 6, 3, 2002, (1, 3)),
}
# strength of the planted sink's query (h4: a DEAD head with <s> first; h6: a BOS-sink head)
PLANTED_QUERY_SCALE = {"tiny-h4": 6.0, "tiny-h6": 3.0}


def bloom_config(hidden, n_head, n_layer) -> BloomConfig:
    return BloomConfig(
        vocab_size=VOCAB, hidden_size=hidden, n_head=n_head, n_layer=n_layer,
        layer_norm_epsilon=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=3,
        apply_residual_connection_post_layernorm=False, hidden_dropout=0.0, attention_dropout=0.0,
        tie_word_embeddings=True, attn_implementation="eager")


@torch.no_grad()
def _randomise(model: BloomForCausalLM, seed: int) -> None:
    """Replace HF's init (std 0.02, LN 1/0) by weights that make attention non-uniform and the
    per-head statistics differ: see README.md §2 for the distributions."""
    gen = torch.Generator().manual_seed(seed)

    def normal(shape, std):
        return torch.randn(shape, generator=gen, dtype=torch.float32) * std

    for name, p in sorted(model.named_parameters()):
        if name.endswith("word_embeddings.weight"):
            p.copy_(normal(p.shape, 0.2))
        elif "layernorm" in name or "ln_f" in name:
            p.copy_(1.0 + normal(p.shape, 0.1) if name.endswith("weight") else normal(p.shape, 0.05))
        elif "self_attention" in name:
            p.copy_(normal(p.shape, 0.2) if name.endswith("weight") else normal(p.shape, 0.05))
        elif "mlp" in name:
            p.copy_(normal(p.shape, 0.1) if name.endswith("weight") else normal(p.shape, 0.05))
        else:
            raise RuntimeError(f"unexpected parameter {name}")


@torch.no_grad()
def _plant_bos_sink(model: BloomForCausalLM, layer: int, head: int, seed: int, gamma: float) -> None:
    """Make head `head` of `layer` attend to the <s> token: <s>'s embedding gets a large component
    along a zero-mean unit direction e; the head's query becomes a constant (zero weights, bias
    along u) and its key weights read the e-component (k = beta·(e·a)·u)."""
    gen = torch.Generator().manual_seed(seed + 7)
    cfg = model.config
    hidden, n_head = cfg.hidden_size, cfg.n_head
    d = hidden // n_head
    e = torch.randn(hidden, generator=gen)
    e -= e.mean()
    e /= e.norm()
    u = torch.randn(d, generator=gen)
    u /= u.norm()
    emb = model.transformer.word_embeddings.weight
    emb[BOS_ID] = 0.1 * emb[BOS_ID] + 3.0 * math.sqrt(hidden) * 0.2 * e

    attn = model.transformer.h[layer].self_attention
    rows_q = slice(head * 3 * d, head * 3 * d + d)
    rows_k = slice(head * 3 * d + d, head * 3 * d + 2 * d)
    beta = 1.5
    attn.query_key_value.weight[rows_q] = 0.0
    attn.query_key_value.bias[rows_q] = gamma * u
    attn.query_key_value.weight[rows_k] = beta * torch.outer(u, e)
    attn.query_key_value.bias[rows_k] = 0.0


def build_model(base: str) -> BloomForCausalLM:
    hidden, n_head, n_layer, seed, (pl, ph) = BASE_MODELS[base]
    torch.manual_seed(seed)
    model = BloomForCausalLM(bloom_config(hidden, n_head, n_layer))
    _randomise(model, seed)
    _plant_bos_sink(model, pl, ph, seed, PLANTED_QUERY_SCALE[base])
    model.eval()
    return model


def _safetensors_header(path: str) -> dict:
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n).decode("utf-8"))


def _weight_files(model_dir: str):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            return sorted(set(json.load(f)["weight_map"].values()))
    return ["model.safetensors"]


def expected_record(model_dir: str, name: str, planted) -> dict:
    """Describe every tensor as read back from the saved files."""
    files = _weight_files(model_dir)
    tensors = {}
    stored_dtypes = set()
    for fname in files:
        path = os.path.join(model_dir, fname)
        header = _safetensors_header(path)
        with safe_open(path, framework="pt") as f:
            for tname in sorted(f.keys()):
                t = f.get_tensor(tname)
                dtype = header[tname]["dtype"]
                stored_dtypes.add(dtype)
                tensors[tname] = {"shape": list(t.shape), "dtype": dtype, "file": fname,
                                  "fnv1a64": fnv1a64_f32(t), "first": first_values(t)}
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    if len(stored_dtypes) != 1:
        raise RuntimeError(f"{name}: mixed stored dtypes {stored_dtypes}")
    return {"model": name, "generator": generator_record(), "stored_dtype": stored_dtypes.pop(),
            "config": {k: cfg[k] for k in ("hidden_size", "n_head", "n_layer", "vocab_size")},
            "planted_bos_head": {"layer": planted[0], "head": planted[1]},
            "files": files, "tensors": tensors}


def _save_tokenizer(model_dir: str, tok_path: str) -> None:
    """tokenizer_config.json from transformers; tokenizer.json a relative symlink to ours, so the
    fixtures hold one copy of it (git stores the link; every reader follows it)."""
    fast = PreTrainedTokenizerFast(tokenizer_file=tok_path, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>", padding_side="left",
                                   clean_up_tokenization_spaces=False)
    fast.save_pretrained(model_dir)
    link = os.path.join(model_dir, "tokenizer.json")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.relpath(tok_path, model_dir), link)
    for extra in ("special_tokens_map.json",):
        p = os.path.join(model_dir, extra)
        if os.path.exists(p):
            os.remove(p)


def _strip_prefix_in_place(model_dir: str) -> None:
    """Rewrite model.safetensors with bare tensor names (as the bigscience uploads are stored)."""
    path = os.path.join(model_dir, "model.safetensors")
    state = load_file(path)
    bare = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in state.items()}
    save_file(bare, path, metadata={"format": "pt"})


def _fresh_dir(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)


def make_model_fixtures(ref_dir: str, tok_path: str) -> None:
    models_dir = os.path.join(ref_dir, "models")
    os.makedirs(models_dir, exist_ok=True)
    variants = [
        # (name, base, dtype, shard size, strip prefix)
        ("tiny-h4-f32", "tiny-h4", torch.float32, None, False),
        ("tiny-h4-f16", "tiny-h4", torch.float16, None, True),
        ("tiny-h4-bf16", "tiny-h4", torch.bfloat16, None, False),
        ("tiny-h6-f32", "tiny-h6", torch.float32, None, False),
        ("tiny-h6-sharded", "tiny-h6", torch.float32, "400KB", False),
    ]
    for name, base, dtype, shard, strip in variants:
        model = build_model(base).to(dtype)
        out = os.path.join(models_dir, name)
        _fresh_dir(out)
        kwargs = {"max_shard_size": shard} if shard else {}
        model.save_pretrained(out, **kwargs)
        if strip:
            _strip_prefix_in_place(out)
        os.remove(os.path.join(out, "generation_config.json"))  # not part of a model; saves space
        _save_tokenizer(out, tok_path)
        files = _weight_files(out)
        if shard and len(files) < 2:
            raise RuntimeError(f"{name}: expected >= 2 shards, got {files}")
        planted = BASE_MODELS[base][4]
        write_json(os.path.join(models_dir, name + ".expected.json"), expected_record(out, name, planted),
                   compact_lists=True)
        print(f"model {name}: {len(files)} file(s)")
