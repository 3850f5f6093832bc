#!/usr/bin/env python3
"""Writes a seed corpus for the fuzz targets: SFrame from spec/vectors
(RFC 9605), signalling from the examples in spec/protocol.md plus room
names and links. The MLS seeds for session_input come from a real room:
`cargo run -p sotto-crypto --example mls_seed_corpus -- fuzz/corpus/session_input`.

Run from fuzz/: ./seeds.py  (writes corpus/<target>/...; corpus/ is not committed)
"""
import json, os, pathlib

here = pathlib.Path(__file__).resolve().parent
v = json.load(open(here.parent / "spec/vectors/rfc9605.json"))

def put(target, name, data):
    d = here / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)

for i, h in enumerate(v["header"]):
    put("sframe_header", f"rfc-{i}", bytes.fromhex(h["encoded"]))

for t in v["sframe"]:
    meta = bytes.fromhex(t["metadata"])
    ct = bytes.fromhex(t["ct"])
    suite = t["cipher_suite"] - 1
    put("sframe_decrypt", f"rfc-{suite}-plain", bytes([suite, len(meta), 0]) + meta + ct)
    put("sframe_decrypt", f"rfc-{suite}-mutate", bytes([suite, len(meta), 1]) + meta + bytes(8) + b"\x01")
    for codec in range(5):
        put("media_unprotect", f"rfc-{suite}-{codec}", bytes([codec]) + ct)

# Plaintext frames of each codec's shape, for the protect/unprotect round trip.
vp8_key = bytes([0x50, 0x42, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01]) + bytes(range(40))
vp8_delta = bytes([0x31, 0x07, 0x00]) + bytes(range(30))
for name, codec, frame in [("opus", 0, b"\xfc" + bytes(20)), ("vp8key", 1, vp8_key),
                           ("vp8delta", 1, vp8_delta), ("vp9", 2, bytes(range(25)))]:
    put("media_unprotect", name, bytes([codec]) + frame)
# Every one-line JSON example of the signalling spec, both directions.
lines = (here.parent / "spec/protocol.md").read_text().splitlines()
n = 0
for i, line in enumerate(lines):
    if line.strip() in ("```json client", "```json server"):
        put("signalling", f"spec-{n}", lines[i + 1].encode())
        n += 1
for i, text in enumerate(["quiet-otter-lamp-42", "ws", "-bad-", "a" * 65,
                          "https://sotto.example.org/quiet-otter-lamp-42#c2VjcmV0c2VjcmV0c2Vj",
                          "http://127.0.0.1:8080/room-1/", "https://h/room?x=1#s"]):
    put("signalling", f"name-{i}", text.encode())
print("corpus written to", here / "corpus")
