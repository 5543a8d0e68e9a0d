"""Rate–distortion of the shipped learned codecs against JPEG, WebP, AVIF and JPEG 2000, with BD-rates.

    python benchmarks/lossy_rate_distortion.py [--digits 2000] [--record] [--vq-only]

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
digits take about half an hour here, so each classical sweep is kept in
``runs/rate_distortion/`` (keyed by codec, digit count and Pillow version)
and reused by the next run; ``--classical-only`` measures just those, e.g.
while the learned codecs are still training. The shipped VQ-VAEs
(``vae/checkpoints/vq/``) are measured on the same digits and recorded
under ``"vqvae"``; ``--vq-only --record`` measures just them and adds them
to the recorded document without touching its other curves. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import vae

vae.quiet(0)

import numpy as np  # noqa: E402

import PIL  # noqa: E402

from vae import data  # noqa: E402
from vae.checkpoint import write_json_atomic  # noqa: E402
from vae.lossy import LossyCodec, baselines, curves, storage  # noqa: E402
from vae.vq import record as vq_record  # noqa: E402

CACHE = Path("runs") / "rate_distortion"


def classical_sweeps(images) -> tuple[dict, dict]:
    """Every classical codec's sweep on ``images``, from the cache when it holds it: (sweeps, seconds)."""
    sweeps, seconds = {}, {}
    for codec in baselines.available_codecs():
        cached = CACHE / f"{codec.replace(' ', '_')}-{len(images)}-pillow{PIL.__version__}.json"
        if cached.is_file():
            stored = json.loads(cached.read_text())
            sweeps[codec], seconds[codec] = stored["points"], stored["seconds"]
            print(f"{codec}: from {cached}", flush=True)
            continue
        print(f"measuring {codec} ...", flush=True)
        start = time.perf_counter()
        sweeps[codec] = baselines.sweep(images, codec)
        seconds[codec] = round(time.perf_counter() - start, 2)
        CACHE.mkdir(parents=True, exist_ok=True)
        write_json_atomic(cached, {"points": sweeps[codec], "seconds": seconds[codec]})
    return sweeps, seconds


def vq_report(images) -> list[dict]:
    """Measure and print the shipped VQ-VAEs' points (all digits in one file each)."""
    points = vq_record.measure_shipped(images)
    print(f"\nVQ-VAE (indices coded under the PixelCNN prior), {len(images)} digits in one file each")
    print(f"{'codec':<16}{'bpp':>9}{'PSNR dB':>9}{'SSIM':>8}{'bits/index':>12}{'codes used':>12}{'seconds':>9}")
    for point in points:
        print(f"{point['codec']:<16}{point['bpp']:>9.4f}{point['psnr']:>9.2f}{point['ssim']:>8.4f}"
              f"{point['prior_bits_per_index']:>12.3f}{point['codebook']['used']:>12}{point['seconds']:>9.1f}")
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=2000, help="first N MNIST test digits (default 2000)")
    parser.add_argument("--record", action="store_true", help="store the curves for chapter 10")
    parser.add_argument("--classical-only", action="store_true", help="measure (and cache) the classical sweeps only")
    parser.add_argument("--vq-only", action="store_true",
                        help="measure the shipped VQ-VAEs only (with --record: add them to the recorded curves)")
    args = parser.parse_args()
    images = data.load_mnist("test")[0][:args.digits]
    if args.vq_only:
        vq_points = vq_report(images)
        if args.record:
            vq_record.record_points(vq_points, " ".join(["python", *map(shlex.quote, sys.argv)]))
            print(f"\nadded to {curves.RECORD_FILE.relative_to(curves.RECORD_FILE.parents[3])}")
        return
    start = time.perf_counter()
    sweeps, seconds = classical_sweeps(images)
    if args.classical_only:
        print(f"classical sweeps of {len(images)} digits ready in {CACHE}")
        return
    learned = {name: LossyCodec.pretrained(name) for name in storage.shipped_codecs()
               if name.startswith("hyperprior")}
    measured = curves.measure(images, learned, classical=[],
                              progress=lambda name: print(f"measuring {name} ...", flush=True))
    measured["classical"], measured["seconds"] = sweeps, {**measured["seconds"], **seconds}
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
    vq_points = vq_report(images)
    few = images[:100]
    print("\nbytes per digit, each digit its own file (first 100 digits, mean):")
    for name, codec in learned.items():
        print(f"  {name:<16}{curves.per_digit_bytes(codec, few).mean():8.1f}")
    for point in vq_points:
        vq_codec = vq_record.VQCodec.pretrained(point["codec"])
        print(f"  {point['codec']:<16}{curves.per_digit_bytes(vq_codec, few).mean():8.1f}")
    for codec in baselines.available_codecs():
        middle = baselines.SWEEPS[codec][len(baselines.SWEEPS[codec]) // 2]
        sizes = baselines.per_digit_sizes(few, codec, middle)["sizes"]
        print(f"  {codec + f' ({middle})':<16}{np.mean(sizes):8.1f}")
    if args.record:
        command = " ".join(["python", *map(shlex.quote, sys.argv)])
        curves.record({**measured, "vqvae": vq_points, "vqvae_command": command}, command)
        print(f"\nrecorded in {curves.RECORD_FILE.relative_to(curves.RECORD_FILE.parents[3])}")


if __name__ == "__main__":
    main()
