"""A deliberate data race through frugalnn's instrumented code, for .ci/tsan.sh.

Two threads run two sessions (so no session lock orders them) into the same ``out=`` array:
the native output writes race. Under the ThreadSanitizer build this must end in a TSan report
and a non-zero exit; if it does not, the TSan run proves nothing (the module is not
instrumented, the runtime is not preloaded, or reports do not fail the run).

Not a test: it is meant to fail, and only .ci/tsan.sh runs it.
"""
import threading

import numpy as np

from frugalnn.graph import Dense, Sequential, Session, compile


def main():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((256, 256)).astype(np.float32)
    program = compile(Sequential([Dense(w, None, name="fc")], input_shape=(256,)))
    sessions = [Session(program, max_batch=64, num_threads=1) for _ in range(2)]
    data = rng.random((64, 256), dtype=np.float32)
    shared = np.empty((64, 256), np.float32)
    start = threading.Barrier(2)

    def work(s):
        start.wait()
        for _ in range(50):
            s.run(data, out=shared)

    threads = [threading.Thread(target=work, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("canary: finished; the ThreadSanitizer report above, if any, decides")


if __name__ == "__main__":
    main()
