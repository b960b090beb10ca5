"""Writes a random positive per-weight sensitivity file (same names and
shapes as a model's linear weights) for squant-quantize --sensitivity."""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_lite as st  # noqa: E402

model, out = sys.argv[1], sys.argv[2]
rng = random.Random(7)
t, _ = st.read(os.path.join(model, "model.safetensors"))
s = {}
for name, (_, shape, _) in t.items():
    if ".layers." in name and name.endswith("_proj.weight"):
        s[name] = ("F32", shape, [rng.expovariate(1.0) + 1e-3 for _ in range(shape[0] * shape[1])])
st.write(out, s)
