"""A tiny byte-level BPE tokenizer for the tests (Python standard library):
writes a Hugging Face tokenizer.json (256 byte tokens, merges learned from a
text, one special token) and encodes text with its own GPT-2 style
pre-tokenizer (ASCII text), independent of squant's C++ tokenizer.

  tiny_bpe.py write TEXT_FILE OUT.json --merges N
  tiny_bpe.py encode TOKENIZER.json TEXT_FILE      (prints ids, comma-separated)
"""
import json
import re
import sys


def byte_map():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


PAT = re.compile(r"'(?:s|t|re|ve|m|ll|d)| ?[A-Za-z]+|[0-9]| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")


def pretokenize(text):
    return PAT.findall(text)


def bpe(word, ranks):
    sym = list(word)
    while len(sym) > 1:
        pairs = [(ranks.get(sym[i] + " " + sym[i + 1], 1 << 30), i) for i in range(len(sym) - 1)]
        r, _ = min(pairs)
        if r == 1 << 30:
            break
        a, b = [x for x in ranks if ranks[x] == r][0].split(" ")
        out, i = [], 0
        while i < len(sym):
            if i + 1 < len(sym) and sym[i] == a and sym[i + 1] == b:
                out.append(a + b)
                i += 2
            else:
                out.append(sym[i])
                i += 1
        sym = out
    return sym


def main():
    bm = byte_map()
    if sys.argv[1] == "write":
        text = open(sys.argv[2]).read()
        n = int(sys.argv[sys.argv.index("--merges") + 1])
        words = [("".join(bm[b] for b in w.encode())) for w in pretokenize(text)]
        vocab = {bm[b]: b for b in range(256)}
        merges = []
        seqs = [list(w) for w in words]
        for _ in range(n):
            counts = {}
            for s in seqs:
                for i in range(len(s) - 1):
                    counts[(s[i], s[i + 1])] = counts.get((s[i], s[i + 1]), 0) + 1
            if not counts:
                break
            (a, b), _ = max(sorted(counts.items()), key=lambda kv: kv[1])
            merges.append(a + " " + b)
            vocab[a + b] = len(vocab)
            new = []
            for s in seqs:
                out, i = [], 0
                while i < len(s):
                    if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                        out.append(a + b)
                        i += 2
                    else:
                        out.append(s[i])
                        i += 1
                new.append(out)
            seqs = new
        special = len(vocab)
        tok = {"model": {"type": "BPE", "vocab": vocab, "merges": merges},
               "added_tokens": [{"id": special, "content": "<|endoftext|>", "special": True}]}
        with open(sys.argv[3], "w") as f:
            json.dump(tok, f)
        print(special + 1)
        return
    tok = json.load(open(sys.argv[2]))
    vocab = tok["model"]["vocab"]
    ranks = {m: i for i, m in enumerate(tok["model"]["merges"])}
    ids = []
    for w in pretokenize(open(sys.argv[3]).read()):
        for s in bpe("".join(bm[b] for b in w.encode()), ranks):
            ids.append(vocab[s])
    print(",".join(map(str, ids)))


if __name__ == "__main__":
    main()
