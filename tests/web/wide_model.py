"""A random-weight BLOOM of a large model's head layout (30 layers × 32 heads, as BLOOM-3b and
7b1) but a tiny width (hidden 128, head_dim 4), for the dashboard's screenshots and checks at
that size. Its tensors are the demo model's names and layout (read from the demo's
model.safetensors) with every layer repeated and every width doubled; it keeps the demo's
tokenizer. LayerNorm weights are 1 and biases 0; the attention projections grow sharper with
depth (larger weights), so that the diagnosis finds more than one class.
"""
import json
import os
import re
import shutil
import struct

import numpy as np


def _header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def write_wide_bloom(demo_dir, out_dir, n_layer=30, n_head=32, hidden=128, seed=5):
    with open(os.path.join(demo_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    width = config["hidden_size"]
    scale = {width: hidden, 3 * width: 3 * hidden, 4 * width: 4 * hidden, config["vocab_size"]: config["vocab_size"]}
    header = _header(os.path.join(demo_dir, "model.safetensors"))
    names = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        m = re.match(r"h\.0\.(.*)$", name)
        if m:
            names += [("h.%d.%s" % (layer, m.group(1)), info["shape"], layer) for layer in range(n_layer)]
        elif not re.match(r"h\.\d+\.", name):
            names.append((name, info["shape"], None))
    rng = np.random.default_rng(seed)
    tensors, offset, meta = [], 0, {"__metadata__": {"format": "pt"}}
    for name, shape, layer in sorted(names):
        shape = [scale[d] for d in shape]
        if "layernorm" in name:
            data = np.ones(shape, np.float32) if name.endswith("weight") else np.zeros(shape, np.float32)
        elif name.endswith("bias"):
            data = np.zeros(shape, np.float32)
        else:
            std = 0.02 if layer is None or "query_key_value" not in name else 0.01 * (1 + layer)
            data = rng.normal(0.0, std, shape).astype(np.float32)
        raw = data.tobytes()
        meta[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        tensors.append(raw)
        offset += len(raw)
    head = json.dumps(meta).encode()
    head += b" " * (-len(head) % 8)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for raw in tensors:
            f.write(raw)
    config.update(hidden_size=hidden, n_head=n_head, n_layer=n_layer)
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=1)
    for extra in ("tokenizer.json", "tokenizer_config.json"):
        if os.path.exists(os.path.join(demo_dir, extra)):
            shutil.copy(os.path.join(demo_dir, extra), os.path.join(out_dir, extra))
