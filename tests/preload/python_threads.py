"""Builds dicts, strings, lists and JSON in several threads, passes objects between
threads through queues (so they are freed by a thread other than the one that made
them), and prints a checksum per thread. The output depends only on the inputs."""
import hashlib
import json
import queue
import random
import re
import threading

THREADS = 4
ITEMS = 40000


def build(tid, out, handoff_in, handoff_out):
    rnd = random.Random(tid)
    d = {}
    for i in range(ITEMS):
        k = "key-%d-%d-%d" % (tid, i, rnd.randrange(1 << 30))
        d[k] = [k * (i % 5), i, str(i) * (i % 7), {"x": i, "y": [i] * (i % 3)}]
        if i % 3 == 0:
            del d[k]
        if i % 1000 == 0:
            handoff_out.put([k] * 50 + [bytearray(i % 4096)])
    handoff_out.put(None)  # each queue has exactly one sender
    items = sorted((k, v[1], len(v[2])) for k, v in d.items())
    text = json.dumps(items)
    blob = b"".join(k.encode() for k in d)
    numbers = re.findall(r"key-\d+-(\d+)", text)
    received = 0
    while True:
        got = handoff_in.get()
        if got is None:
            break
        received += len(got[0]) + len(got[-1])
    h = hashlib.sha256(text.encode() + blob).hexdigest()
    out[tid] = "thread %d: %d keys, %d numbers, %d received, %s" % (
        tid, len(d), len(numbers), received, h)


def main():
    queues = [queue.Queue() for _ in range(THREADS)]
    out = [None] * THREADS
    threads = [
        threading.Thread(target=build, args=(t, out, queues[t], queues[(t + 1) % THREADS]))
        for t in range(THREADS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for line in out:
        print(line)
    big = {i: str(i) * 10 for i in range(200000)}
    print("big dict:", sum(len(v) for v in big.values()))
    del big


main()
