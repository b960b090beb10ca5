"""Compares squant's BPE tokenizer with llama.cpp's (llama-cpp-python, on
the same GGUF) on a set of strings.

  check_tokenizer.py SQUANT_RUN MODEL_DIR FILE.gguf
"""
import subprocess
import sys

from llama_cpp import Llama

TEXTS = [
    "The capital of France is",
    "Hello, world! How are you doing today?",
    "I'm sure they'll say it's fine; we've seen worse, don't you think?",
    "In 2024 the value rose 3.14159% to $1,234,567.89 (up from 42).",
    "a  b   c\n\nd\t\te    \n  f",
    "def f(x):\n    return x**2 + 1  # square\n",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "   leading and trailing spaces   ",
    "Unusual: naïve café, 東京, emoji 🙂!",
]


def main():
    squant_run, model_dir, gguf = sys.argv[1:4]
    llm = Llama(model_path=gguf, vocab_only=True, verbose=False)
    ok = 0
    for text in TEXTS:
        want = llm.tokenize(text.encode(), add_bos=False, special=True)
        out = subprocess.run([squant_run, "--model=" + model_dir, "--tokenize",
                              "--prompt=" + text], capture_output=True, text=True)
        line = [l for l in out.stdout.splitlines() if l.startswith("prompt token ids")]
        got = [int(x) for x in line[0].split(": ", 1)[1].split()] if line else None
        if got != want:
            print("MISMATCH %r\n  squant:    %s\n  llama.cpp: %s" % (text, got, want))
        else:
            ok += 1
    print("%d/%d strings tokenized identically to llama.cpp" % (ok, len(TEXTS)))
    return 0 if ok == len(TEXTS) else 1


if __name__ == "__main__":
    sys.exit(main())
