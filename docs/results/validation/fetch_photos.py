"""A validation set for decisions about the bundled prior: 4 photos that are neither in the
training pool nor among the evaluation's held-out photos (astronaut, chelsea, coffee, rocket).

    python docs/results/validation/fetch_photos.py OUTDIR

Needs `pip download` (the package registry, once); the photos are read out of the wheels:
grace_hopper.jpg (matplotlib's sample data), motorcycle_left.png (scikit-image's data),
china.jpg and flower.jpg (scikit-learn's sample images).  Choose settings on these, then report
on the held-out photos, so the held-out numbers are not tuned to.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WANTED = {  # package spec -> files inside its wheel
    "matplotlib==3.11.2": ["matplotlib/mpl-data/sample_data/grace_hopper.jpg"],
    "scikit-image==0.26.0": ["skimage/data/motorcycle_left.png"],
    "scikit-learn==1.9.1": ["sklearn/datasets/images/china.jpg", "sklearn/datasets/images/flower.jpg"],
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for spec, names in WANTED.items():
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, spec], check=True)
            wheel = next(p for p in Path(tmp).glob("*.whl")
                         if p.name.lower().startswith(spec.split("==")[0].replace("-", "_")))
            with zipfile.ZipFile(wheel) as z:
                for name in names:
                    (out / Path(name).name).write_bytes(z.read(name))
                    print(out / Path(name).name)
            wheel.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
