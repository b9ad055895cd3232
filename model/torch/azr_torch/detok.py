"""Token ids -> text inside the worker, so stop strings end generation without a round trip.

Covers: `tokenizer.json` with a ByteLevel decoder (GPT-2 byte <-> unicode table: Qwen2/2.5/3,
Llama 3) and SentencePiece-style vocabularies (`▁` for space, `<0xNN>` byte fallback); added
tokens by their content; `decode` drops special tokens (eos, pad, …), generation's text keeps all
but the eos ids (generation.py, as the ORT engine); incomplete UTF-8 at the end is held back until
the next token completes it.
Not: encoding (prompts arrive as ids; the TypeScript tokenizer owns encoding and chat templates).
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Optional


def _bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def _config_eos_ids(model_dir: str, vocab: dict, added: list) -> List[int]:
    """tokenizer_config.json's eos_token as an id (none without the file or the token): the ORT engine
    stops there too (TextTokenizer.eosTokenIds), chat models name their turn end this way."""
    path = os.path.join(model_dir, "tokenizer_config.json")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        tok = json.load(f).get("eos_token")
    if isinstance(tok, dict):  # an AddedToken object
        tok = tok.get("content")
    if not isinstance(tok, str):
        return []
    for at in added:
        if at.get("content") == tok:
            return [at["id"]]
    return [vocab[tok]] if tok in vocab else []


class Detokenizer:
    def __init__(self, pieces: Dict[int, bytes], special: set):
        self.pieces = pieces
        self.special = special
        self.eos_ids: List[int] = []

    @staticmethod
    def from_dir(model_dir: str) -> Optional["Detokenizer"]:
        path = os.path.join(model_dir, "tokenizer.json")
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        vocab = (tj.get("model") or {}).get("vocab") or {}
        if isinstance(vocab, list):  # Unigram: [[piece, score], ...]
            vocab = {p[0]: i for i, p in enumerate(vocab)}
        dec = tj.get("decoder") or {}
        byte_level = dec.get("type") == "ByteLevel" or any(d.get("type") == "ByteLevel" for d in dec.get("decoders", []) or [])
        pieces: Dict[int, bytes] = {}
        if byte_level:
            inv = {c: b for b, c in _bytes_to_unicode().items()}
            for tok, i in vocab.items():
                pieces[i] = bytes(inv[c] for c in tok if c in inv)
        else:
            for tok, i in vocab.items():
                if len(tok) == 6 and tok.startswith("<0x") and tok.endswith(">"):
                    pieces[i] = bytes([int(tok[3:5], 16)])
                else:
                    pieces[i] = tok.replace("▁", " ").encode("utf-8")
        special = set()
        for at in tj.get("added_tokens", []) or []:
            pieces[at["id"]] = at["content"].encode("utf-8")
            if at.get("special"):
                special.add(at["id"])
        d = Detokenizer(pieces, special)
        d.eos_ids = _config_eos_ids(model_dir, vocab, tj.get("added_tokens", []) or [])
        return d

    def decode_bytes(self, ids: List[int]) -> bytes:
        return b"".join(self.pieces.get(i, b"") for i in ids if i not in self.special)

    def decode(self, ids: List[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def prefix_lengths(self, ids: List[int]) -> List[int]:
        """Character length of the text decoded from ids[:k+1], for each k (used to cut at a stop string)."""
        out, acc = [], b""
        for i in ids:
            if i not in self.special:
                acc += self.pieces.get(i, b"")
            out.append(len(acc.decode("utf-8", errors="ignore")))
        return out
