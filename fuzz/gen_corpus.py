#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_alloc into fuzz/corpus/ (deterministic).

Encoding (see fuzz_alloc.cpp): op byte, slot byte, then operands. Sizes are 4 bytes,
little endian: low 3 bits pick the range (1-3 tiny <= 256, 4-5 small <= 4096,
6 mid < 132 KiB, 7 large < 3 MiB, 0 zero), the rest is the value.
"""
import os
import random
import struct

MALLOC, FREE, REALLOC, ALIGNED, CALLOC, OVERFLOW, XFREE, XALLOC, REALLOCARRAY, MISC = \
    0, 2, 4, 5, 6, 7, 8, 9, 10, 11


def size(v, rng_bits):
    return struct.pack('<I', (v << 3) | rng_bits)


def tiny(v): return size(v, 1)
def small(v): return size(v, 4)
def mid(v): return size(v, 6)
def large(v): return size(v, 7)


def op(code, slot, *rest):
    return bytes([code, slot]) + b''.join(rest)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
    os.makedirs(out, exist_ok=True)
    seeds = {}
    sizes = [('tiny', tiny, [1, 8, 16, 24, 100, 256]), ('small', small, [300, 1024, 4096]),
             ('mid', mid, [5000, 65536, 131072]), ('large', large, [140000, 1 << 20, 3000000])]
    for name, enc, vals in sizes:
        seeds[f'malloc_free_{name}'] = b''.join(op(MALLOC, i, enc(v)) for i, v in enumerate(vals)) + \
            b''.join(op(FREE, i) for i in range(len(vals)))
        seeds[f'xfree_{name}'] = b''.join(op(MALLOC, i, enc(v)) + op(XFREE, i) for i, v in enumerate(vals))
        seeds[f'xalloc_{name}'] = b''.join(op(XALLOC, i, enc(v)) for i, v in enumerate(vals)) + \
            b''.join(op(FREE, i) for i in range(len(vals)))
    seeds['realloc_grow'] = op(MALLOC, 0, tiny(8)) + b''.join(
        op(REALLOC, 0, e(v)) for e, v in [(tiny, 64), (small, 2000), (mid, 70000), (large, 500000), (large, 2000000)])
    seeds['realloc_shrink'] = op(MALLOC, 0, large(2000000)) + b''.join(
        op(REALLOC, 0, e(v)) for e, v in [(large, 300000), (mid, 100000), (small, 3000), (tiny, 10)])
    seeds['realloc_zero'] = op(MALLOC, 0, small(100)) + op(REALLOC, 0, size(0, 0)) + op(REALLOC, 1, tiny(5))
    seeds['reallocarray'] = op(MALLOC, 0, tiny(64)) + op(REALLOCARRAY, 0, bytes([3]), small(4000)) + \
        op(REALLOCARRAY, 0, bytes([1]), tiny(7))
    for a in range(0, 21):
        for kind in range(3):
            if a % 4 == 0 or a >= 12:
                seeds[f'aligned_{1 << a}_{kind}'] = op(ALIGNED, a % 64, bytes([a + 32 * kind]), tiny(40)) + \
                    op(ALIGNED, 63, bytes([a + 32 * kind]), mid(9000)) + op(XFREE, a % 64)
    seeds['calloc'] = op(CALLOC, 0, bytes([4]), small(4000)) + op(CALLOC, 1, bytes([0]), large(600000)) + \
        op(CALLOC, 2, bytes([64]), tiny(200)) + op(FREE, 0) + op(CALLOC, 0, bytes([4]), small(4000))
    seeds['overflow'] = op(OVERFLOW, 0, b'\x00') + op(OVERFLOW, 0, b'\x01')
    seeds['respawn'] = b''.join(op(XALLOC, i, tiny(32 + i)) for i in range(8)) + op(MISC, 0, b'\x00') + \
        b''.join(op(FREE, i) for i in range(8)) + op(MISC, 0, b'\x01')
    seeds['pingpong'] = b''.join(op(MALLOC, i % 4, tiny(48)) + op(XFREE, i % 4) for i in range(40))
    rng = random.Random(1234)
    for n in range(12):
        data = bytearray()
        for _ in range(rng.randint(20, 120)):
            code = rng.choice([MALLOC, MALLOC, FREE, REALLOC, ALIGNED, CALLOC, XFREE, XFREE, XALLOC, MISC])
            slot = rng.randrange(16)
            if code in (MALLOC, XALLOC, REALLOC):
                data += op(code, slot, size(rng.randrange(1 << 12), rng.choice([1, 2, 3, 4, 5, 6])))
            elif code == ALIGNED:
                data += op(code, slot, bytes([rng.randrange(256)]), size(rng.randrange(1 << 10), 4))
            elif code == CALLOC:
                data += op(code, slot, bytes([rng.randrange(65)]), size(rng.randrange(1 << 10), 4))
            elif code == MISC:
                data += op(code, slot, bytes([rng.randrange(2, 8)]))
            else:
                data += op(code, slot)
        seeds[f'mix_{n:02d}'] = bytes(data)
    for old in os.listdir(out):
        os.remove(os.path.join(out, old))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
    print(f'{len(seeds)} seeds in {out}')


if __name__ == '__main__':
    main()
