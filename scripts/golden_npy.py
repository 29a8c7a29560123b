"""Golden data for test/render.test.ts "npy": files written by numpy.save, whose header dict and
alignment src/render/npy.ts must match so that numpy.load reads what sonotile writes.

Run with Debian's python (python3-numpy):  /usr/bin/python3 scripts/golden_npy.py
Writes test/golden/npy/<name>.npy for a few float32 shapes (1-D, 2-D, a single value, a row and
a column), with values i * 0.25 - 1 in C order.
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "golden", "npy")
SHAPES = {"vector": (3,), "matrix": (2, 3), "single": (1, 1), "row": (1, 5), "column": (513, 1)}

os.makedirs(OUT, exist_ok=True)
for name, shape in SHAPES.items():
    values = (np.arange(np.prod(shape), dtype=np.float32) * 0.25 - 1).reshape(shape)
    np.save(os.path.join(OUT, f"{name}.npy"), values)
print(f"numpy {np.__version__}: {len(SHAPES)} files in {OUT}")
