"""Checks squant-run --logits output against the float64 reference forward
(llama_ref.py) on the prompt plus the generated tokens.

  check_logits.py MODEL_DIR LOGITS.safetensors --prompt 1,2,3 [--tol 1e-4]

Every prefill row and every decode row (the KV-cache path) must be within
`tol` normwise relative error (max|y - ref| / max|ref|) of the reference,
and the greedy tokens must be the reference's argmax where the reference's
top two logits are not a near tie.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref  # noqa: E402
import safetensors_lite as st  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("logits")
    p.add_argument("--prompt", required=True)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--interleaved", action="store_true")
    a = p.parse_args()
    t, _ = st.read(a.logits)
    prompt = [int(x) for x in a.prompt.split(",")]
    gen = t["tokens"][2]
    _, pshape, pv = t["prefill_logits"]
    _, dshape, dv = t["decode_logits"]
    T, V = pshape
    seq = prompt + gen[:dshape[0]]
    ref = llama_ref.forward(llama_ref.Model(a.model), seq, a.interleaved)
    rows = [pv[i * V:(i + 1) * V] for i in range(T)] + \
           [dv[i * V:(i + 1) * V] for i in range(dshape[0])]
    worst = 0.0
    for i, row in enumerate(rows):
        r = ref[i]
        err = max(abs(x - y) for x, y in zip(row, r)) / max(abs(y) for y in r)
        worst = max(worst, err)
        if err > a.tol:
            print("FAIL row %d (%s): relative error %.3g > %g" %
                  (i, "prefill" if i < T else "decode", err, a.tol))
            return 1
    for i, g in enumerate(gen):
        r = ref[T - 1 + i]
        top = sorted(range(V), key=lambda j: -r[j])
        if g != top[0] and r[top[0]] - r[top[1]] > 1e-3 * abs(r[top[0]]):
            print("FAIL generated token %d is %d, reference argmax %d" % (i, g, top[0]))
            return 1
    print("OK %d prefill + %d decode rows: max relative error %.3g (tol %g); "
          "%d greedy tokens match" % (T, dshape[0], worst, a.tol, len(gen)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
