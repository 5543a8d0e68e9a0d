"""Command line: ``python -m vae train | evaluate | sample | compress | decompress | grade``.

Bad arguments exit with status 2 and one line on standard error; a failure
while working (a corrupt checkpoint, say) exits with status 1 and one line;
no traceback either way. Files are written atomically, so a failed or
interrupted command leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROGRAM = "python -m vae"


class UsageError(Exception):
    """Bad arguments: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line and status 2."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _bounded(convert, low, inclusive: bool, description: str):
    """An argparse type: ``convert(text)`` must be finite and >= ``low`` (or > if not inclusive)."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}") from None
        if not (value >= low if inclusive else value > low) or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}")
        return value

    return parse


_positive_int = _bounded(int, 1, True, "a positive integer")
_seed = _bounded(int, 0, True, "a non-negative integer")
_nonnegative_float = _bounded(float, 0.0, True, "a finite number >= 0")
_positive_float = _bounded(float, 0.0, False, "a finite number > 0")


def _add_model_choice(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--model", help="name of a shipped model (see vae/checkpoints/)")
    group.add_argument("--checkpoint", type=Path, help="a checkpoint folder written by 'train'")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m vae``. Introduced in chapter 5."""
    parser = _Parser(prog=PROGRAM, description="Train, evaluate and sample the book's VAEs on MNIST.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a model on dynamically binarized MNIST (resumable)",
                                description="Train a VAE on dynamically binarized MNIST. The run saves a "
                                            "resume state after every epoch: run the same command again "
                                            "to continue a run that was stopped.")
    train.add_argument("--name", required=True, help="the run's name; its state goes to runs/NAME")
    train.add_argument("--run-dir", type=Path, help="folder for the resume state (default runs/NAME)")
    train.add_argument("--out", type=Path, help="folder for the final checkpoint (default: the run folder)")
    train.add_argument("--architecture", choices=["conv", "mlp"], default="conv")
    train.add_argument("--latent-dim", type=_positive_int, default=16)
    train.add_argument("--filters", type=_positive_int, nargs=2, metavar=("F1", "F2"),
                       help="conv: channels of the two stages (default 32 64)")
    train.add_argument("--hidden", type=_positive_int, nargs="+",
                       help="conv: one dense width (default 256); mlp: widths of the hidden layers "
                            "(default 512 256)")
    train.add_argument("--activation", help="mlp: hidden activation (default relu)")
    train.add_argument("--epochs", type=_positive_int, default=10)
    train.add_argument("--batch-size", type=_positive_int, default=128)
    train.add_argument("--learning-rate", type=_positive_float, default=1e-3)
    train.add_argument("--beta", type=_nonnegative_float, default=1.0, help="weight of the KL term")
    train.add_argument("--kl-warmup-epochs", type=_nonnegative_float, default=0.0,
                       help="epochs of linear KL annealing from 0 to beta")
    train.add_argument("--seed", type=_seed, default=0)
    train.add_argument("--learning-rate-schedule", choices=["constant", "cosine"], default="constant",
                       help="cosine: decay to 1%% of --learning-rate over the run")
    train.add_argument("--precision", choices=["float32", "mixed_bfloat16"], default="float32",
                       help="mixed_bfloat16: compute in bfloat16, keep weights and losses in float32")

    evaluate = commands.add_parser("evaluate", help="test ELBO, importance-weighted NLL, active units",
                                   description="Evaluate a model on the fixed binarized MNIST test set.")
    _add_model_choice(evaluate)
    evaluate.add_argument("--k", type=_positive_int, default=5000, help="importance samples per image")
    evaluate.add_argument("--limit", type=_positive_int, help="evaluate only the first N test images")
    evaluate.add_argument("--batch-size", type=_positive_int, default=50,
                          help="test images per batch (memory grows with it; default 50)")
    evaluate.add_argument("--seed", type=_seed, default=0)
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.add_argument("--record", action="store_true",
                          help="also store the figures in the checkpoint's manifest under 'evaluations'")
    evaluate.add_argument("--resume-dir", type=Path, default=Path("runs") / "evaluate",
                          help="folder for the per-image figures of an unfinished run: stop a long "
                               "evaluation and run the same command again to continue it (default "
                               "runs/evaluate; the file is removed when the run completes)")

    sample = commands.add_parser("sample", help="draw images from the prior",
                                 description="Decode codes drawn from the prior N(0, I) into images.")
    _add_model_choice(sample)
    sample.add_argument("-n", "--count", type=_positive_int, default=64)
    sample.add_argument("--seed", type=_seed, default=0)
    sample.add_argument("-o", "--output", type=Path, required=True, help="a .png grid or an .npz of images")

    compress = commands.add_parser(
        "compress", help="losslessly compress binary digits with a trained VAE (bits-back ANS)",
        description="Compress binary 28x28 digits (an .npz of 0/1 images, or a folder of black-and-white "
                    "PNGs) into one file with bits-back coding on a shipped model (chapter 9).")
    compress.add_argument("input", type=Path, metavar="INPUT", help="an .npz of 0/1 images or a folder of PNGs")
    compress.add_argument("-o", "--output", type=Path, required=True, help="the compressed file to write")
    compress.add_argument("--model", default="conv", help="name of a shipped model (default conv)")
    compress.add_argument("--batch-size", type=_positive_int, default=25,
                          help="images coded together (default 25); more is faster but costs more initial bits")
    compress.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")

    decompress = commands.add_parser(
        "decompress", help="restore the digits from a file made by 'compress'",
        description="Decompress a file made by 'compress', using the shipped model named in its header.")
    decompress.add_argument("file", type=Path, metavar="FILE", help="a file made by 'compress'")
    decompress.add_argument("-o", "--output", type=Path, required=True,
                            help="an .npz to create, or a folder to receive one PNG per digit")

    grade = commands.add_parser("grade", help="grade exercise notebooks against the instructor's references",
                                description=GRADE_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    grade.add_argument("submissions", nargs="*", type=Path, metavar="SUBMISSION",
                       help="a submitted notebook, or a folder searched for *.ipynb")
    grade.add_argument("--reference", type=Path,
                       help="the executed reference notebook, or a folder of them (default: tests/solutions "
                            "of the repository this package was installed from)")
    grade.add_argument("--timeout", type=_positive_float, default=60.0, metavar="SECONDS",
                       help="seconds each cell may run before it is stopped and fails (default 60)")
    grade.add_argument("--csv", type=Path, metavar="FILE", help="write one row per exercise of every submission")
    grade.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report, one case per exercise")
    grade.add_argument("--list", action="store_true", help="list the exercises and what each check tests")
    return parser


GRADE_DESCRIPTION = """\
Grade exercise notebooks. For each submission, only the cells tagged 'answer'
are copied into a fresh copy of the instructor's executed reference notebook
(found from the 'exNN' in the submission's name), in a temporary folder; nbval
runs that copy and compares the reference's check cells with their stored
lines. The submission's own check cells and outputs are ignored, so editing
them changes nothing. Prints a table per submission (exercise, pass/FAIL,
reason); exits 0 only when every exercise of every submission passes.

Check cells call vae.grading.check; blank exercise notebooks are made from the
solutions by vae.grading.blank_exercise.

WARNING: grading RUNS THE SUBMITTED CODE with your rights. Grade work you do
not trust inside a sandbox (a container or virtual machine with no network and
no access to your files)."""



# -- commands ------------------------------------------------------------------------
def _load_model(args):
    from vae import checkpoint, pretrained

    if args.model is not None:
        if args.model not in pretrained.available():
            raise UsageError(f"{PROGRAM} {args.command}: no shipped model named {args.model!r}; "
                             f"available: {', '.join(pretrained.available()) or 'none'}")
        directory = pretrained.checkpoint_dir(args.model)
    else:
        directory = args.checkpoint
        if not (directory / checkpoint.MANIFEST_FILE).is_file():
            raise UsageError(f"{PROGRAM} {args.command}: {directory} is not a checkpoint folder "
                             f"(no {checkpoint.MANIFEST_FILE})")
    model, _ = checkpoint.load_checkpoint(directory)
    return model, directory


def _model_options(args) -> dict:
    options: dict = {}
    if args.architecture == "conv":
        if args.activation is not None:
            raise UsageError(f"{PROGRAM} train: --activation applies to --architecture mlp only")
        if args.filters:
            options["filters"] = list(args.filters)
        if args.hidden:
            if len(args.hidden) != 1:
                raise UsageError(f"{PROGRAM} train: the conv architecture takes one --hidden width")
            options["hidden"] = args.hidden[0]
    else:
        if args.filters:
            raise UsageError(f"{PROGRAM} train: --filters applies to --architecture conv only")
        if args.hidden:
            options["hidden"] = list(args.hidden)
        if args.activation:
            import keras

            try:
                keras.activations.get(args.activation)
            except ValueError:
                raise UsageError(f"{PROGRAM} train: unknown activation {args.activation!r}") from None
            options["activation"] = args.activation
    return options


def run_train(args) -> int:
    from tqdm.auto import tqdm

    from vae import training

    config = training.TrainConfig(
        architecture=args.architecture, latent_dim=args.latent_dim, model_options=_model_options(args),
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate, beta=args.beta,
        kl_warmup_epochs=args.kl_warmup_epochs, seed=args.seed,
        learning_rate_schedule=args.learning_rate_schedule, precision=args.precision)
    run_dir = args.run_dir or Path("runs") / args.name
    with tqdm(total=config.epochs, desc=f"training {args.name}", unit="epoch", file=sys.stderr,
              disable=None) as bar:
        def progress(record):
            bar.update(record["epoch"] - bar.n)
            bar.set_postfix(loss=f"{record['loss']:.2f}", val_loss=f"{record['val_loss']:.2f}")

        _, manifest = training.train(config, run_dir, command=training.command_line(args.argv),
                                     export_dir=args.out, progress=progress)
    metrics = manifest["metrics"]
    print(f"trained {args.name}: {manifest['epochs']} epochs in {manifest['seconds']:.0f} s "
          f"({manifest['images_per_second']:.0f} images/s); test loss {metrics['val_loss']:.2f} nats "
          f"(reconstruction {metrics['val_reconstruction']:.2f}, KL {metrics['val_kl']:.2f}); "
          f"checkpoint in {args.out or run_dir}")
    return 0


def run_evaluate(args) -> int:
    from tqdm.auto import tqdm

    from vae import checkpoint, data, evaluation

    model, directory = _load_model(args)
    images, _ = data.binarized_test_set(limit=args.limit)
    fingerprint = evaluation.evaluation_fingerprint(model, images, args.k, args.batch_size,
                                                    evaluation.DEFAULT_CHUNK_SIZE, args.seed)
    label = args.model or Path(directory).resolve().name
    partial = args.resume_dir / f"{label}-k{args.k}-n{len(images)}-seed{args.seed}-{fingerprint[:12]}.npz"
    if partial.exists():
        print(f"resuming from {partial}", file=sys.stderr)
    try:
        with tqdm(total=len(images), desc=f"evaluating (k={args.k})", unit="image", file=sys.stderr,
                  disable=None) as bar:
            result = evaluation.evaluate(model, images, k=args.k, batch_size=args.batch_size, seed=args.seed,
                                         progress=bar.update, partial_path=partial)
    except KeyboardInterrupt:
        if partial.exists():
            print(f"{PROGRAM} evaluate: the images done so far are kept in {partial}; "
                  "run the same command again to continue", file=sys.stderr)
        raise
    figures = result.as_dict()
    if args.record:
        manifest = checkpoint.read_manifest(directory)
        key = checkpoint.evaluation_key(result.k, result.n_images, args.seed)
        manifest.setdefault("evaluations", {})[key] = figures
        checkpoint.write_json_atomic(directory / checkpoint.MANIFEST_FILE, manifest)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{result.n_images} test images, k = {result.k}")
        print(f"  NLL (importance weighted)  {result.nll:9.2f} ± {result.nll_stderr:.2f} nats"
              f"  ({result.nll_bits_per_dim:.4f} bits/dim)")
        print(f"  ELBO                       {result.elbo:9.2f} nats")
        print(f"  reconstruction -E log p    {result.reconstruction:9.2f} nats")
        print(f"  KL(q || p)                 {result.kl:9.2f} nats")
        print(f"  active units               {result.active_units:6d} of {result.latent_dim}")
    return 0


def run_sample(args) -> int:
    import numpy as np

    from vae.checkpoint import atomic_path
    from vae.plotting import save_image_grid

    suffix = args.output.suffix.lower()
    if suffix not in (".png", ".npz"):
        raise UsageError(f"{PROGRAM} sample: --output must end in .png or .npz, got {args.output}")
    if not args.output.parent.is_dir():
        raise UsageError(f"{PROGRAM} sample: the folder {args.output.parent} does not exist")
    model, _ = _load_model(args)
    images = model.sample(args.count, seed=args.seed).numpy()
    with atomic_path(args.output, suffix=suffix) as temporary:
        if suffix == ".png":
            save_image_grid(images, temporary)
        else:
            np.savez_compressed(temporary, images=images)
    print(f"wrote {args.count} prior samples to {args.output}")
    return 0


def run_compress(args) -> int:
    from vae import compression
    from vae.checkpoint import atomic_path
    from vae.compression.files import read_images

    if args.output.exists() and not args.force:
        raise UsageError(f"{PROGRAM} compress: {args.output} exists; use --force to overwrite it")
    if not args.output.parent.is_dir():
        raise UsageError(f"{PROGRAM} compress: the folder {args.output.parent} does not exist")
    images, names = read_images(args.input)
    try:
        codec = compression.BitsBackCodec.pretrained(args.model, batch_size=args.batch_size)
    except ValueError as error:
        raise UsageError(f"{PROGRAM} compress: {error}") from None
    blob = codec.compress(images, names=names)
    with atomic_path(args.output) as temporary:
        temporary.write_bytes(blob)
    rates = compression.bits_per_dim(blob)
    print(f"compressed {len(images)} digits into {args.output}: {len(blob)} bytes, "
          f"{rates['total']:.4f} bits/pixel ({rates['net']:.4f} without the {rates['initial_bits']} "
          f"initial bits and the {rates['header_bytes']}-byte header)")
    return 0


def run_decompress(args) -> int:
    from vae import compression
    from vae.compression.files import write_images

    if not args.file.is_file():
        raise UsageError(f"{PROGRAM} decompress: {args.file}: no such file")
    restored = compression.decompress(args.file.read_bytes())
    write_images(args.output, restored.images, restored.names)
    print(f"restored {len(restored.images)} digits into {args.output} "
          f"(model {restored.header['model']}, checksums verified)")
    return 0


def _failed(result: "grading.SubmissionResult") -> list["grading.ExerciseResult"]:
    return [exercise for exercise in result.exercises if not exercise.passed]


def run_grade(args) -> int:
    from vae import grading
    from vae.checkpoint import atomic_path

    if args.list:
        for exercise in grading.EXERCISES.values():  # each a grading.Exercise
            print(f"{exercise.id} {exercise.title} (chapter {exercise.chapter}): {exercise.checks}")
        return 0
    if not args.submissions:
        raise UsageError(f"{PROGRAM} grade: give at least one SUBMISSION (a notebook or a folder) (see --help)")
    for option, path in (("--csv", args.csv), ("--junit", args.junit)):
        if path is not None and not path.parent.is_dir():
            raise UsageError(f"{PROGRAM} grade: {option}: the folder {path.parent} does not exist")
    if args.reference is not None and not args.reference.exists():
        raise UsageError(f"{PROGRAM} grade: --reference: {args.reference} does not exist")
    try:
        paths = grading.submission_paths(args.submissions)
    except grading.GradingError as error:
        raise UsageError(f"{PROGRAM} grade: {error}") from None
    results: list[grading.SubmissionResult] = []
    for path in paths:
        result = grading.grade_submission(path, args.reference, timeout=args.timeout)
        if result.error is not None:
            print(f"{PROGRAM} grade: {result.error}", file=sys.stderr, flush=True)
        else:
            print(grading.format_table(result) + ("\n" if len(paths) > 1 else ""), flush=True)
        results.append(result)
    if args.csv is not None:
        with atomic_path(args.csv, suffix=".csv") as temporary:
            grading.write_csv(results, temporary)
    if args.junit is not None:
        with atomic_path(args.junit, suffix=".xml") as temporary:
            grading.write_junit(results, temporary)
    if len(results) > 1:
        complete = sum(result.passed for result in results)
        ungraded = sum(result.error is not None for result in results)
        partial = len(results) - complete - ungraded
        print(f"{len(results)} submissions: {complete} passed every exercise, {partial} failed some "
              f"({sum(len(_failed(r)) for r in results)} failed exercises in all), {ungraded} could not be graded"
              + (f"; CSV in {args.csv}" if args.csv else ""))
    return 0 if all(result.passed for result in results) else 1


COMMANDS = {"train": run_train, "evaluate": run_evaluate, "sample": run_sample, "compress": run_compress,
            "decompress": run_decompress, "grade": run_grade}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status. Introduced in chapter 5."""
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = build_parser().parse_args(argv)
        args.argv = argv
        import vae  # noqa: F401  (imports TensorFlow silently before anything else does)

        return COMMANDS[args.command](args)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 1
