"""Perplexity from the float64 reference forward (llama_ref.py) over
non-overlapping windows of a token list, compared with squant-run
--perplexity's output line.

  check_perplexity.py MODEL_DIR IDS_FILE SQUANT_OUTPUT --ctx N --windows K
"""
import argparse
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("model")
p.add_argument("ids")
p.add_argument("squant")
p.add_argument("--ctx", type=int, required=True)
p.add_argument("--windows", type=int, required=True)
a = p.parse_args()
ids = [int(x) for x in open(a.ids).read().strip().split(",")]
# squant evaluates only full windows.
windows = min(a.windows, len(ids) // a.ctx)
m = llama_ref.Model(a.model)
nll, n = 0.0, 0
for w in range(windows):
    win = ids[w * a.ctx:(w + 1) * a.ctx]
    logits = llama_ref.forward(m, win)
    for t in range(len(win) - 1):
        row = logits[t]
        mx = max(row)
        z = sum(math.exp(v - mx) for v in row)
        nll -= row[win[t + 1]] - mx - math.log(z)
        n += 1
ref = math.exp(nll / n)
match = re.search(r"perplexity: ([0-9.]+) over (\d+)", open(a.squant).read())
got, got_n = float(match.group(1)), int(match.group(2))
if got_n != n:
    print("FAIL squant predicted %d tokens, the reference %d" % (got_n, n))
    sys.exit(1)
err = abs(got - ref) / ref
print("%s perplexity %.4f vs reference %.4f over %d tokens (relative difference %.2g)"
      % ("OK" if err < 1e-4 else "FAIL", got, ref, n, err))
sys.exit(0 if err < 1e-4 else 1)
