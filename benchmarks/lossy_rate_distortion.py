"""Rate–distortion of the shipped learned codecs against JPEG, WebP, AVIF and JPEG 2000, with BD-rates.

    python benchmarks/lossy_rate_distortion.py [--digits 2000] [--record]

Codes the first ``--digits`` grey MNIST test digits with every shipped
learned codec (all digits in one file each) and with every classical codec
Pillow can write across its quality sweep (10 x 10 mosaics, strongest
settings; :mod:`vae.lossy.baselines`), prints each curve (bits per pixel,
mean per-digit PSNR in dB, SSIM), the learned curve's Bjøntegaard delta rate
against each classical codec, and the seconds each curve took. Per-digit
sizes (each digit its own file) are printed for the first 100 digits.

With ``--record`` the curves are stored in
``vae/checkpoints/lossy/rate_distortion.json`` with this command, which
chapter 10 reads. AVIF at speed 0 takes a few seconds per mosaic: 2,000
digits take about half an hour here. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

import vae

vae.quiet(0)

import numpy as np  # noqa: E402

from vae import data  # noqa: E402
from vae.lossy import LossyCodec, baselines, curves, storage  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=2000, help="first N MNIST test digits (default 2000)")
    parser.add_argument("--record", action="store_true", help="store the curves for chapter 10")
    args = parser.parse_args()
    images = data.load_mnist("test")[0][:args.digits]
    learned = {name: LossyCodec.pretrained(name) for name in storage.shipped_codecs()
               if name.startswith("hyperprior")}
    start = time.perf_counter()
    measured = curves.measure(images, learned, progress=lambda name: print(f"measuring {name} ...", flush=True))
    print(f"\n{len(images)} digits, {time.perf_counter() - start:.0f} s in all")
    print(f"{'codec':<16}{'setting':>9}{'bpp':>9}{'PSNR dB':>9}{'SSIM':>8}")
    for point in measured["learned"]:
        print(f"{point['codec']:<16}{point['lmbda']:>9g}{point['bpp']:>9.4f}{point['psnr']:>9.2f}{point['ssim']:>8.4f}")
    for codec, points in measured["classical"].items():
        for point in points:
            print(f"{codec:<16}{point['parameter']:>9}{point['bpp']:>9.4f}{point['psnr']:>9.2f}{point['ssim']:>8.4f}")
    print("\nBjøntegaard delta rate of the learned codec (negative: fewer bits at equal PSNR)")
    for codec, result in curves.bd_rates(measured).items():
        low, high = result["psnr_range"]
        print(f"  vs {codec:<10} {result['bd_rate']:+7.1f} %  over {low:.2f}..{high:.2f} dB "
              f"({result['anchor_points']} anchor points)")
    print("\nseconds per curve: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in measured["seconds"].items()))
    few = images[:100]
    print("\nbytes per digit, each digit its own file (first 100 digits, mean):")
    for name, codec in learned.items():
        print(f"  {name:<16}{curves.per_digit_bytes(codec, few).mean():8.1f}")
    for codec in baselines.available_codecs():
        middle = baselines.SWEEPS[codec][len(baselines.SWEEPS[codec]) // 2]
        sizes = baselines.per_digit_sizes(few, codec, middle)["sizes"]
        print(f"  {codec + f' ({middle})':<16}{np.mean(sizes):8.1f}")
    if args.record:
        command = " ".join(["python", *map(shlex.quote, sys.argv)])
        curves.record(measured, command)
        print(f"\nrecorded in {curves.RECORD_FILE.relative_to(curves.RECORD_FILE.parents[3])}")


if __name__ == "__main__":
    main()
