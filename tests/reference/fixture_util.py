"""Small helpers shared by make_fixtures.py and verify_ours.py: FNV-1a 64 of float32 tensor bytes,
base64, JSON writing and the generator version record. Owns no fixture content."""

import base64
import json
import os

import numpy as np

FNV64_OFFSET = 0xCBF29CE484222325
FNV64_PRIME = 0x100000001B3
_MASK64 = (1 << 64) - 1


def fnv1a64_bytes(data: bytes) -> str:
    """FNV-1a 64-bit of data, as 16 lower-case hex digits."""
    h = FNV64_OFFSET
    prime = FNV64_PRIME
    mask = _MASK64
    for byte in data:
        h = ((h ^ byte) * prime) & mask
    return format(h, "016x")


def float32_le_bytes(values) -> bytes:
    """Row-major little-endian float32 bytes of an array-like (torch tensor or numpy array)."""
    if hasattr(values, "detach"):
        values = values.detach().to("cpu").float().numpy()
    arr = np.ascontiguousarray(np.asarray(values, dtype=np.float32))
    return arr.astype("<f4", copy=False).tobytes()


def fnv1a64_f32(values) -> str:
    """FNV-1a 64 of the tensor's values upcast to float32 (little-endian, row-major)."""
    return fnv1a64_bytes(float32_le_bytes(values))


def first_values(values, n=8):
    """First n values (flattened, row-major) upcast to float32, as Python floats (exact)."""
    if hasattr(values, "detach"):
        values = values.detach().to("cpu").float().numpy()
    flat = np.asarray(values, dtype=np.float32).reshape(-1)[:n]
    return [float(x) for x in flat]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def generator_record() -> dict:
    """Versions of the libraries that produced a fixture."""
    import safetensors
    import tokenizers
    import torch
    import transformers

    return {
        "script": "tests/reference/make_fixtures.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    }


def write_json(path: str, obj, compact_lists=False) -> None:
    """Write obj as UTF-8 JSON (non-ASCII kept literally), atomically."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        if compact_lists and isinstance(obj, list):
            # one compact element per line: small files that still diff well
            f.write("[\n")
            f.write(",\n".join(json.dumps(item, ensure_ascii=False, separators=(",", ":")) for item in obj))
            f.write("\n]")
        elif compact_lists:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        else:
            json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path: str):
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)
