#!/usr/bin/env python3
"""Expected dequantized weights of a SqueezeLLM test vector.

  dequant_vector.py VECTOR.safetensors OUT.safetensors

Reads the reference packer's `codes` and `layer.lookup_table` from the
vector and writes `w` = lut[n][codes[n][k]] (f32, computed by
squant_ref.dequant), for a bit-exact comparison with lut_dequant.
"""
import sys

import safetensors_lite as st
import squant_ref as ref


def main():
    tensors, _ = st.read(sys.argv[1])
    _, (n, k), flat_codes = tensors["codes"]
    _, lut_shape, lut = tensors["layer.lookup_table"]
    codes = [flat_codes[i * k:(i + 1) * k] for i in range(n)]
    w = ref.dequant(codes, lut, lut_shape)
    st.write(sys.argv[2], {"w": ("F32", [n, k], [v for row in w for v in row])})


if __name__ == "__main__":
    main()
