"""Command line: ``python -m vae train | train-codec | train-vqvae | evaluate | sample | compress | decompress | grade``.

Bad arguments exit with status 2 and one line on standard error; a failure
while working (a corrupt checkpoint, say) exits with status 1 and one line;
no traceback either way. No command overwrites an existing output (a file,
a folder of images, a checkpoint, a recorded evaluation) unless given
``--force``; without it, it says so in one line and exits with status 2.
Files are written atomically, so a failed or interrupted command leaves
nothing half-written. On a terminal, commands that run longer than a second
show a progress bar on standard error; piped or captured, they show none.

This module imports only the standard library: ``--help`` and ``--version``
answer without TensorFlow, which each command imports when it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

PROGRAM = "python -m vae"

from vae import defaults  # plain Python: the choices and defaults, read without TensorFlow
from vae.checks import check_int, check_number  # NumPy only; TensorFlow is imported by the image checks

TRAINING, EVALUATION = defaults.TRAINING, defaults.EVALUATION


class UsageError(Exception):
    """Bad arguments, or an output that exists without --force: reported in one line, exit status 2."""


class CommandFailed(Exception):
    """A failure while working that is not the caller's fault: reported in one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line and status 2."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _checked(convert, check, description: str, **bounds):
    """An argparse type: ``convert(text)``, held to a check of :mod:`vae.checks` with ``bounds``.

    The bounds are the package's own checks (one rule for the command line
    and the functions it calls); the message keeps to the command line's
    words: ``expected a positive integer, got '0'``.
    """
    def parse(text: str):
        try:
            return check(convert(text), "value", **bounds)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}") from None

    return parse


class _VersionAction(argparse.Action):
    """``--version``: print the installed package's version and exit (read only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="print the version of the vae-book package and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        import vae

        print(f"vae-book {vae.__version__}")
        parser.exit()


def _words(values) -> str:
    """``(32, 64)`` as ``"32 64"``, the way the option is typed."""
    return " ".join(str(value) for value in values)


def _add_force(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--force", action="store_true", help=help)


_positive_int = _checked(int, check_int, "a positive integer", minimum=1)
_seed = _checked(int, check_int, "a non-negative integer", minimum=0)
_evaluation_seed = _checked(int, check_int, f"an integer in [0, {defaults.EVALUATION_SEED_LIMIT}]",
                            minimum=0, maximum=defaults.EVALUATION_SEED_LIMIT)
_nonnegative_float = _checked(float, check_number, "a finite number >= 0", minimum=0.0)
_positive_float = _checked(float, check_number, "a finite number > 0", minimum=0.0, strict=True)


def _latent_sizes(text: str) -> list[int]:
    """An argparse type: ``"32,16"`` as ``[32, 16]``, each a positive integer."""
    try:
        return [_positive_int(part) for part in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}") from None


class _Given(argparse.Action):
    """Store the value and note the option in ``namespace.given``: typed, not left at its default."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given = {*getattr(namespace, "given", ()), self.dest}


def _add_model_choice(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--model", help="name of a shipped model (see vae/checkpoints/)")
    group.add_argument("--checkpoint", type=Path, help="a checkpoint folder written by 'train'")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m vae``. Introduced in chapter 5."""
    parser = _Parser(prog=PROGRAM, description="Train, evaluate and sample the book's VAEs on MNIST.")
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a model on dynamically binarized MNIST (resumable)",
                                description="Train a VAE on dynamically binarized MNIST. The run saves a "
                                            "resume state after every epoch: run the same command again "
                                            "to continue a run that was stopped.")
    train.add_argument("--name", required=True, help="the run's name; its state goes to runs/NAME")
    train.add_argument("--run-dir", type=Path, help="folder for the resume state (default runs/NAME)")
    train.add_argument("--out", type=Path, help="folder for the final checkpoint (default: the run folder)")
    _add_force(train, "overwrite a finished checkpoint in the --out folder (default: the run folder), "
                      "e.g. to extend a finished run with more --epochs")
    train.add_argument("--architecture", choices=defaults.ARCHITECTURES, default=TRAINING["architecture"])
    train.add_argument("--latent-dim", type=_positive_int, default=TRAINING["latent_dim"], action=_Given,
                       help=f"conv, mlp: size of z (default {TRAINING['latent_dim']})")
    train.add_argument("--latent-dims", type=_latent_sizes, metavar="D1,D2,...",
                       help="ladder: sizes of the stochastic layers z_1, z_2, ..., bottom first (default %s)"
                            % ",".join(str(d) for d in defaults.LADDER_LATENT_DIMS))
    train.add_argument("--filters", type=_positive_int, nargs=2, metavar=("F1", "F2"),
                       help="conv, ladder: channels of the two stages (default %s)"
                            % _words(defaults.CONV_OPTIONS["filters"]))
    train.add_argument("--hidden", type=_positive_int, nargs="+",
                       help=f"conv, ladder: one dense width (default {defaults.CONV_OPTIONS['hidden']}); mlp: "
                            f"widths of the hidden layers (default {_words(defaults.MLP_OPTIONS['hidden'])})")
    train.add_argument("--activation", help=f"mlp: hidden activation (default {defaults.MLP_OPTIONS['activation']})")
    train.add_argument("--prior", choices=defaults.PRIORS, default="standard",
                       help="p(z): the standard normal, or a VampPrior (a mixture of the encoder's posteriors "
                            "at learned pseudo-inputs, chapter 11)")
    train.add_argument("--pseudo-inputs", type=_positive_int,
                       help=f"vampprior: number of pseudo-inputs (default {defaults.VAMPPRIOR_PSEUDO_INPUTS})")
    train.add_argument("--decoder", choices=defaults.DECODERS, default=defaults.DECODERS[0],
                       help="p(x|z): factorized Bernoulli pixels, or (conv only) a gated PixelCNN conditioned "
                            "on z, pixel by pixel (chapter 11)")
    train.add_argument("--pixelcnn-layers", type=_positive_int,
                       help=f"pixelcnn: gated layers; fewer see fewer rows above a pixel "
                            f"(default {defaults.PIXELCNN_OPTIONS['layers']})")
    train.add_argument("--pixelcnn-channels", type=_positive_int,
                       help=f"pixelcnn: features per stack (default {defaults.PIXELCNN_OPTIONS['channels']})")
    train.add_argument("--free-bits", type=_nonnegative_float, metavar="LAMBDA",
                       help="pixelcnn, ladder: floor each latent unit's batch-mean KL at LAMBDA nats in the "
                            "training loss (Kingma et al. 2016), against posterior collapse (default 0: none)")
    train.add_argument("--epochs", type=_positive_int, default=TRAINING["epochs"])
    train.add_argument("--batch-size", type=_positive_int, default=TRAINING["batch_size"])
    train.add_argument("--learning-rate", type=_positive_float, default=TRAINING["learning_rate"])
    train.add_argument("--beta", type=_nonnegative_float, default=TRAINING["beta"], help="weight of the KL term")
    train.add_argument("--kl-warmup-epochs", type=_nonnegative_float, default=TRAINING["kl_warmup_epochs"],
                       help="epochs of linear KL annealing from 0 to beta")
    train.add_argument("--seed", type=_seed, default=TRAINING["seed"])
    train.add_argument("--learning-rate-schedule", choices=defaults.LEARNING_RATE_SCHEDULES,
                       default=TRAINING["learning_rate_schedule"],
                       help="cosine: decay to 1%% of --learning-rate over the run")
    train.add_argument("--precision", choices=defaults.PRECISIONS, default=TRAINING["precision"],
                       help="mixed_bfloat16: compute in bfloat16, keep weights and losses in float32")
    train.add_argument("--init-from", type=Path, metavar="DIR",
                       help="start from the weights of this VAE checkpoint folder (e.g. vae/checkpoints/conv) "
                            "instead of random ones: its model must have the same --architecture, sizes "
                            "(--latent-dim, ...) and --decoder, else the run is refused naming what differs. "
                            "With --prior vampprior and a DIR without one, the pseudo-inputs start at "
                            "--pseudo-inputs training digits drawn with --seed. The optimizer starts fresh; a "
                            "resumed run continues from its resume state, not from DIR")

    codec = defaults.CODEC_TRAINING
    train_codec = commands.add_parser(
        "train-codec", help="train a learned lossy codec on grey MNIST digits (resumable)",
        description="Train a scale-hyperprior codec (chapter 10) on the grey MNIST training digits with the "
                    "loss bits/pixel + LMBDA * MSE on grey levels 0..255. The run saves a resume state after "
                    "every epoch: run the same command again to continue a run that was stopped.")
    train_codec.add_argument("--name", required=True, help="the run's name; its state goes to runs/NAME")
    train_codec.add_argument("--run-dir", type=Path, help="folder for the resume state (default runs/NAME)")
    train_codec.add_argument("--out", type=Path, help="folder for the final checkpoint (default: the run folder)")
    _add_force(train_codec, "overwrite a finished checkpoint in the --out folder (default: the run folder)")
    train_codec.add_argument("--lmbda", type=_positive_float, required=True,
                             help="weight of the distortion (MSE on 0..255) against the rate (bits/pixel)")
    sizes = {"channels": "latent channels (y is 7x7xC)", "hyper_channels": "hyper-latent channels (z is 4x4xCz)",
             "filters": "width of the analysis and synthesis", "hyper_filters": "width of the hyper-transforms",
             "epochs": "passes over the 60,000 training digits", "batch_size": "images per step"}
    for option, meaning in sizes.items():
        train_codec.add_argument("--" + option.replace("_", "-"), type=_positive_int, default=codec[option],
                                 help=f"{meaning} (default {codec[option]})")
    train_codec.add_argument("--learning-rate", type=_positive_float, default=codec["learning_rate"])
    train_codec.add_argument("--learning-rate-schedule", choices=defaults.LEARNING_RATE_SCHEDULES,
                             default=codec["learning_rate_schedule"],
                             help="cosine: decay to 1%% of --learning-rate over the run")
    train_codec.add_argument("--seed", type=_seed, default=codec["seed"])
    train_codec.add_argument("--init-from", type=Path, metavar="DIR",
                             help="start from this codec checkpoint's weights (same sizes), e.g. one trained "
                                  "at a larger --lmbda")

    _add_train_vqvae(commands)

    evaluate = commands.add_parser("evaluate", help="test ELBO, importance-weighted NLL, active units",
                                   description="Evaluate a model on the fixed binarized MNIST test set.")
    _add_model_choice(evaluate)
    evaluate.add_argument("--k", type=_positive_int, default=EVALUATION["k"], help="importance samples per image")
    evaluate.add_argument("--limit", type=_positive_int, help="evaluate only the first N test images")
    evaluate.add_argument("--batch-size", type=_positive_int, default=EVALUATION["batch_size"],
                          help=f"test images per batch (memory grows with it; default {EVALUATION['batch_size']}; "
                               "a PixelCNN decoder needs about 5)")
    evaluate.add_argument("--seed", type=_evaluation_seed, default=EVALUATION["seed"])
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.add_argument("--record", action="store_true",
                          help="also store the figures in the checkpoint's manifest under 'evaluations'")
    _add_force(evaluate, "with --record: replace figures the manifest already holds for these settings")
    evaluate.add_argument("--subset", type=_positive_int, metavar="N",
                          help="evaluate a fixed random subset of N test digits instead, numpy's "
                               "default_rng(SUBSET_SEED).permutation(10000)[:N], each digit with its own "
                               "sampling keys, and k = 100 on the same digits beside k (the per-digit "
                               "difference is recorded); not with --limit")
    evaluate.add_argument("--subset-seed", type=_seed, metavar="SUBSET_SEED",
                          help="with --subset: the seed of the subset (default 0)")
    evaluate.add_argument("--state", type=Path, metavar="FILE",
                          help="where an unfinished run keeps the figures of the digits done, written after "
                               "every --batch-size digits: stop a long evaluation and run the same command "
                               "again to continue it. With --subset a .json file, kept when the run "
                               "completes (commit it to continue on another machine); otherwise an .npz "
                               "file, removed when the run completes (default "
                               "runs/evaluate/MODEL-kK-nN-seedS-FINGERPRINT.npz)")
    evaluate.add_argument("--minutes", type=_positive_float,
                          help="with --subset: stop cleanly, state saved, after the first --batch-size "
                               "digits that end past this many minutes")

    sample = commands.add_parser("sample", help="draw images from the prior",
                                 description="Decode codes drawn from the prior N(0, I) into images.")
    _add_model_choice(sample)
    sample.add_argument("-n", "--count", type=_positive_int, default=64)
    sample.add_argument("--seed", type=_seed, default=0)
    sample.add_argument("-o", "--output", type=Path, required=True, help="a .png grid or an .npz of images")
    _add_force(sample, "overwrite OUTPUT if it exists")

    compress = commands.add_parser(
        "compress", help="compress digits: losslessly with a VAE (bits back), or lossily with a learned codec",
        description="Compress 28x28 digits into one file. With a VAE (default conv; chapter 9) the digits are "
                    "binary (an .npz of 0/1 images or a folder of black-and-white PNGs) and come back exactly "
                    "(bits-back coding, or a direct code of the pixels when that file is smaller, as it is "
                    "for up to a few hundred digits; the header records which). With a learned lossy codec (a shipped one by --model, e.g. "
                    "hyperprior-q2, or --checkpoint DIR from 'train-codec'; chapter 10) they are grey (an .npz "
                    "of floats in [0, 1] or uint8 levels, or a folder of grey PNGs) and come back approximately.")
    compress.add_argument("input", type=Path, metavar="INPUT", nargs="?",
                          help="an .npz of images or a folder of PNGs")
    compress.add_argument("--test-set", action="store_true",
                          help="lossless: compress the 10,000 binarized test digits instead of INPUT (bits back "
                               "only, no fallback)")
    compress.add_argument("--record", action="store_true",
                          help="with --test-set: also decompress the file, check the digits bit for bit, and "
                               "store size, rates and times in the checkpoint's manifest under 'compression' "
                               "(chapters 9 and 11 print them)")
    compress.add_argument("-o", "--output", type=Path, required=True, help="the compressed file to write")
    chosen = compress.add_mutually_exclusive_group()
    chosen.add_argument("--model", default="conv",
                        help="a shipped VAE (lossless) or a shipped lossy codec (vae/checkpoints/lossy/, or a "
                             "VQ-VAE of vae/checkpoints/vq/, e.g. vqvae-k256); "
                             "default conv")
    chosen.add_argument("--checkpoint", type=Path,
                        help="a lossy codec's checkpoint folder written by 'train-codec' or 'train-vqvae', or a "
                             "VAE's written by 'train' (lossless, e.g. a PixelVAE; chapter 11)")
    compress.add_argument("--batch-size", type=_positive_int, default=25,
                          help="lossless: the most images coded together (default 25); more is faster, and "
                               "the first batches ramp up from one image so the initial bits stay one image's")
    _add_force(compress, "overwrite OUTPUT if it exists; with --record, replace a record of the same batch size")

    decompress = commands.add_parser(
        "decompress", help="restore the digits from a file made by 'compress'",
        description="Decompress a file made by 'compress', using the model named in its header (a shipped VAE "
                    "or lossy codec), or the lossy codec of --checkpoint DIR. Lossy files restore grey digits: "
                    "float32 in an .npz (exactly the encoder's reconstruction) or 8-bit grey PNGs.")
    decompress.add_argument("file", type=Path, metavar="FILE", help="a file made by 'compress'")
    decompress.add_argument("-o", "--output", type=Path, required=True,
                            help="an .npz to create, or a folder to receive one PNG per digit")
    decompress.add_argument("--checkpoint", type=Path,
                            help="the checkpoint folder (lossy codec or VAE), for a file made with --checkpoint")
    _add_force(decompress, "overwrite OUTPUT if it exists (an .npz), or write into a folder that is not "
                           "empty, replacing files of the same names")

    store_float16 = commands.add_parser(
        "store-float16", help="store a checkpoint's weights in float16 (about half the bytes), before it ships",
        description="Rewrite a VAE checkpoint's weights rounded to float16; the model still computes in float32. "
                    "The manifest records weights_dtype and the replaced file's SHA-256, and moves figures "
                    "measured with the float32 weights (evaluations, compression) under float32_figures: "
                    "measure them again with 'evaluate --record' and 'compress --test-set --record', and compare.")
    store_float16.add_argument("checkpoint", type=Path, metavar="DIR", help="a checkpoint folder written by 'train'")

    grade = commands.add_parser("grade", help="grade exercise notebooks against the instructor's references",
                                description=GRADE_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    grade.add_argument("submissions", nargs="*", type=Path, metavar="SUBMISSION",
                       help="a submitted notebook, or a folder searched for *.ipynb")
    grade.add_argument("--reference", type=Path,
                       help="the executed reference notebook, or a folder of them (default: the references "
                            "shipped in the package, vae/grading/references)")
    grade.add_argument("--timeout", type=_positive_float, default=60.0, metavar="SECONDS",
                       help="seconds each cell may run before it is stopped and fails (default 60)")
    grade.add_argument("--jobs", type=int, default=None, metavar="N",
                       help="submissions graded at once, each in its own kernel (default: the available cores)")
    grade.add_argument("--memory-limit", type=_positive_float, default=4096.0, metavar="MB",
                       help="memory each kernel may allocate beyond its start, in MB (default 4096)")
    grade.add_argument("--output-limit", type=_positive_float, default=4.0, metavar="MB",
                       help="what each submission may print, in MB (default 4)")
    grade.add_argument("--out", type=Path, metavar="DIR",
                       help="write DIR/gradebook.csv (one row per student, one column per exercise, a total) "
                            "and DIR/feedback/<student>.md (default when grading a folder: ./graded)")
    grade.add_argument("--csv", type=Path, metavar="FILE", help="write one row per exercise of every submission")
    grade.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report, one case per exercise")
    grade.add_argument("--list", action="store_true", help="list the exercises and what each check tests")
    _add_force(grade, "overwrite the --csv and --junit files and the gradebook if they exist")
    return parser


GRADE_DESCRIPTION = """\
Grade exercise notebooks, one notebook or a whole class folder at once
(--jobs at a time, each in its own kernel with a per-cell --timeout, a
--memory-limit and an --output-limit). For each submission, only the cells
tagged 'answer' are copied into a fresh copy of the instructor's executed
reference notebook (found from the 'exNN' in the submission's name; --reference
DIR for a private set). In that kernel each check cell only records what the
answer returns on fresh inputs (numbers, in a file); this process, where no
submitted code runs, recomputes the inputs and the reference and decides pass
or fail. Editing check cells or outputs, printing "correct" or rebinding the
checks in the kernel changes nothing. Prints a table per submission; grading a
folder also writes graded/gradebook.csv and one feedback file per student
(--out DIR); exits 0 only when every exercise of every submission passes.

Check cells call vae.grading.check; blank exercise notebooks are made from the
solutions by vae.grading.blank_exercise.

WARNING: grading RUNS THE SUBMITTED CODE with your rights. Grade work you do
not trust inside a sandbox (a container or virtual machine with no network and
no access to your files)."""



# -- commands ------------------------------------------------------------------------
def _refuse_to_overwrite(args, path: Path, exists: bool | None = None, what: str | None = None) -> None:
    """The one overwrite rule: raise :class:`UsageError` if the output exists and --force was not given.

    Args:
        args: the parsed arguments (``command`` and ``force``).
        path: the output.
        exists: whether it counts as existing (default: whether ``path`` exists).
        what: how the message names the output (default ``path``).
    """
    if (path.exists() if exists is None else exists) and not args.force:
        raise UsageError(f"{PROGRAM} {args.command}: {what or path} exists; pass --force to overwrite")


def _progress_bar(total: int, description: str, unit: str, enabled: bool = True):
    """A tqdm bar on standard error, shown only on a terminal and only after the first second."""
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, delay=1.0,
                disable=not (enabled and sys.stderr.isatty()))


def _compression():
    """:mod:`vae.compression`; without the 'constriction' package, a :class:`CommandFailed` saying so."""
    try:
        from vae import compression
    except ImportError as error:
        if error.name != "constriction":
            raise
        raise CommandFailed(str(error)) from None
    return compression


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
    options: dict = _ladder_options(args)
    if args.architecture in ("conv", "ladder"):
        if args.activation is not None:
            raise UsageError(f"{PROGRAM} train: --activation applies to --architecture mlp only")
        if args.filters:
            options["filters"] = list(args.filters)
        if args.hidden:
            if len(args.hidden) != 1:
                raise UsageError(f"{PROGRAM} train: the {args.architecture} architecture takes one --hidden width")
            options["hidden"] = args.hidden[0]
    else:
        if args.filters:
            raise UsageError(f"{PROGRAM} train: --filters applies to --architecture conv or ladder only")
        if args.hidden:
            options["hidden"] = list(args.hidden)
        if args.activation:
            import keras

            try:
                keras.activations.get(args.activation)
            except ValueError:
                raise UsageError(f"{PROGRAM} train: unknown activation {args.activation!r}") from None
            options["activation"] = args.activation
    if args.prior != "standard":
        options["prior"] = args.prior
        options["pseudo_inputs"] = args.pseudo_inputs or defaults.VAMPPRIOR_PSEUDO_INPUTS
    elif args.pseudo_inputs is not None:
        raise UsageError(f"{PROGRAM} train: --pseudo-inputs applies to --prior vampprior only")
    return {**options, **_decoder_options(args)}


def _ladder_options(args) -> dict:
    """The Ladder VAE's options (chapter 11): its layers' sizes and free bits, checked against the rest.

    Its stochastic layers replace --latent-dim, its top layer's prior is
    N(0, I) and its decoder is the conv one, so --latent-dim, --prior
    vampprior and --decoder pixelcnn do not apply.
    """
    if args.architecture != "ladder":
        if args.latent_dims is not None:
            raise UsageError(f"{PROGRAM} train: --latent-dims applies to --architecture ladder only "
                             "(one stochastic layer takes --latent-dim)")
        return {}
    if "latent_dim" in getattr(args, "given", ()):
        raise UsageError(f"{PROGRAM} train: --latent-dim does not apply to --architecture ladder; "
                         "give each layer's size with --latent-dims")
    if args.prior != "standard":
        raise UsageError(f"{PROGRAM} train: --prior {args.prior} does not apply to --architecture ladder "
                         "(its top layer's prior is N(0, I))")
    if args.decoder != defaults.DECODERS[0]:
        raise UsageError(f"{PROGRAM} train: --decoder {args.decoder} needs --architecture conv")
    options = {"latent_dims": list(args.latent_dims or defaults.LADDER_LATENT_DIMS)}
    if args.free_bits:
        options["free_bits"] = args.free_bits
    return options


def _decoder_options(args) -> dict:
    """The PixelCNN decoder's options (chapter 11), checked against the architecture and the prior."""
    given = {"pixelcnn_layers": args.pixelcnn_layers, "pixelcnn_channels": args.pixelcnn_channels,
             "free_bits": args.free_bits}
    if args.decoder != "pixelcnn":
        for name, value in given.items():
            if value is not None and not (name == "free_bits" and args.architecture == "ladder"):
                also = " or --architecture ladder" if name == "free_bits" else ""
                raise UsageError(f"{PROGRAM} train: --{name.replace('_', '-')} applies to --decoder pixelcnn"
                                 f"{also} only")
        return {}
    if args.architecture != "conv":
        raise UsageError(f"{PROGRAM} train: --decoder pixelcnn needs --architecture conv")
    if args.free_bits and args.prior != "standard":
        raise UsageError(f"{PROGRAM} train: --free-bits needs the standard prior (its KL splits over the units)")
    options = {"decoder": "pixelcnn",
               "pixelcnn_layers": args.pixelcnn_layers or defaults.PIXELCNN_OPTIONS["layers"],
               "pixelcnn_channels": args.pixelcnn_channels or defaults.PIXELCNN_OPTIONS["channels"]}
    if args.free_bits:
        options["free_bits"] = args.free_bits
    return options


def _refuse_a_finished_checkpoint(args, output: Path) -> None:
    """Train's output is the final checkpoint, not the resume state: refuse to replace one without --force.

    A stopped run has no checkpoint yet, so running its command again resumes it.
    """
    from vae import checkpoint

    for name in (checkpoint.MANIFEST_FILE, checkpoint.WEIGHTS_FILE):
        _refuse_to_overwrite(args, output / name, what=f"the checkpoint {output / name}")


def run_train(args) -> int:
    from tqdm.auto import tqdm

    from vae import training

    options = _model_options(args)
    if args.init_from is not None and not _is_vae_checkpoint(args.init_from):
        raise UsageError(f"{PROGRAM} train: --init-from {args.init_from} is not a checkpoint folder of "
                         f"'train' (no manifest.json naming a VAE architecture)")
    run_dir = args.run_dir or Path("runs") / args.name
    _refuse_a_finished_checkpoint(args, args.out or run_dir)
    latent_dim = options["latent_dims"][0] if args.architecture == "ladder" else args.latent_dim  # z_1's size
    config = training.TrainConfig(
        architecture=args.architecture, latent_dim=latent_dim, model_options=options,
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate, beta=args.beta,
        kl_warmup_epochs=args.kl_warmup_epochs, seed=args.seed,
        learning_rate_schedule=args.learning_rate_schedule, precision=args.precision,
        init_from=None if args.init_from is None else str(args.init_from))
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


def run_train_codec(args) -> int:
    from tqdm.auto import tqdm

    from vae import training
    from vae.lossy.training import CodecTrainConfig, train_codec

    run_dir = args.run_dir or Path("runs") / args.name
    _refuse_a_finished_checkpoint(args, args.out or run_dir)
    config = CodecTrainConfig(
        lmbda=args.lmbda, channels=args.channels, hyper_channels=args.hyper_channels, filters=args.filters,
        hyper_filters=args.hyper_filters, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, learning_rate_schedule=args.learning_rate_schedule, seed=args.seed,
        init_from=None if args.init_from is None else str(args.init_from))
    with tqdm(total=config.epochs, desc=f"training {args.name}", unit="epoch", file=sys.stderr,
              disable=None) as bar:
        def progress(record):
            bar.update(record["epoch"] - bar.n)
            bar.set_postfix(bpp=f"{record['val_bpp']:.3f}", psnr=f"{record['val_psnr']:.2f}")

        _, manifest = train_codec(config, run_dir, command=training.command_line(args.argv),
                                  export_dir=args.out, progress=progress)
    metrics = manifest["metrics"]
    print(f"trained {args.name}: {manifest['epochs']} epochs in {manifest['seconds']:.0f} s "
          f"({manifest['images_per_second']:.0f} images/s); test digits {metrics['val_bpp']:.3f} bits/pixel "
          f"at {metrics['val_psnr']:.2f} dB (noisy latents rounded); checkpoint in {args.out or run_dir}")
    return 0


def _add_train_vqvae(commands) -> None:
    """The ``train-vqvae`` subcommand (chapter 10's VQ-VAE and its prior)."""
    DEFAULTS = defaults.VQ_TRAINING

    vq = commands.add_parser(
        "train-vqvae", help="train a VQ-VAE and its PixelCNN prior on grey MNIST digits (resumable)",
        description="Train a VQ-VAE (codebook, commitment loss, dead-code restarts) and a PixelCNN prior over "
                    "its 7x7 index grid (chapter 10) on the grey MNIST training digits; the checkpoint is a "
                    "lossy codec for 'compress --model NAME' and a generator. The run saves a resume state "
                    "after every epoch: run the same command again to continue a run that was stopped.")
    vq.add_argument("--name", required=True, help="the run's name; its state goes to runs/NAME")
    vq.add_argument("--run-dir", type=Path, help="folder for the resume state (default runs/NAME)")
    vq.add_argument("--out", type=Path, help="folder for the final checkpoint (default: the run folder)")
    _add_force(vq, "overwrite a finished checkpoint in the --out folder (default: the run folder)")
    sizes = {"codebook_size": "codebook entries K", "code_dim": "dimension D of each code vector",
             "filters": "width of the encoder and decoder", "prior_embedding": "the prior's index embedding",
             "prior_filters": "width of the prior", "prior_layers": "masked convolutions in the prior",
             "epochs": "passes over the 60,000 training digits", "batch_size": "images per step"}
    for option, meaning in sizes.items():
        vq.add_argument("--" + option.replace("_", "-"), type=_positive_int, default=DEFAULTS[option],
                        help=f"{meaning} (default {DEFAULTS[option]})")
    vq.add_argument("--learning-rate", type=_positive_float, default=DEFAULTS["learning_rate"])
    vq.add_argument("--learning-rate-schedule", choices=defaults.LEARNING_RATE_SCHEDULES,
                    default=DEFAULTS["learning_rate_schedule"],
                    help="cosine: decay to 1%% of --learning-rate over the run (default)")
    vq.add_argument("--no-restarts", action="store_true",
                    help="switch off the dead-code restarts (to see codebook collapse)")
    vq.add_argument("--seed", type=_seed, default=DEFAULTS["seed"])
    vq.add_argument("--evaluation-digits", type=int, default=2000,
                    help="first N MNIST test digits coded into one file for the manifest's figures "
                         "(default 2000; 0 skips)")


def run_train_vqvae(args) -> int:
    from tqdm.auto import tqdm

    from vae import training
    from vae.vq.training import VQTrainConfig, train_vqvae

    run_dir = args.run_dir or Path("runs") / args.name
    _refuse_a_finished_checkpoint(args, args.out or run_dir)
    if args.evaluation_digits < 0:
        raise UsageError(f"{PROGRAM} train-vqvae: --evaluation-digits must be 0 or more")
    config = VQTrainConfig(
        codebook_size=args.codebook_size, code_dim=args.code_dim, filters=args.filters,
        prior_embedding=args.prior_embedding, prior_filters=args.prior_filters, prior_layers=args.prior_layers,
        restarts=not args.no_restarts, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, learning_rate_schedule=args.learning_rate_schedule, seed=args.seed)
    with tqdm(total=config.epochs, desc=f"training {args.name}", unit="epoch", file=sys.stderr,
              disable=None) as bar:
        def progress(record):
            bar.update(record["epoch"] - bar.n)
            bar.set_postfix(psnr=f"{record['val_psnr']:.2f}", prior_bits=f"{record['val_prior_bits']:.3f}")

        _, manifest = train_vqvae(config, run_dir, command=training.command_line(args.argv),
                                  export_dir=args.out, name=args.name,
                                  evaluation_images=args.evaluation_digits, progress=progress)
    metrics = manifest["metrics"]
    line = (f"trained {args.name}: {manifest['epochs']} epochs in {manifest['seconds']:.0f} s, "
            f"{manifest['cpu_minutes']:.1f} CPU minutes ({manifest['images_per_second']:.0f} images/s); "
            f"validation PSNR {metrics['val_psnr']:.2f} dB, prior {metrics['val_prior_bits']:.3f} bits/index")
    if "test" in manifest:
        test = manifest["test"]
        line += (f"; {test['digits']} test digits in one file: {test['bpp']:.4f} bits/pixel at "
                 f"{test['psnr']:.2f} dB, SSIM {test['ssim']:.4f}")
    print(line + f"; checkpoint in {args.out or run_dir}")
    return 0

def run_evaluate(args) -> int:
    from tqdm.auto import tqdm

    from vae import checkpoint, data, evaluation, pretrained

    if args.subset is not None:
        return _run_evaluate_subset(args)
    for flag, value in (("--subset-seed", args.subset_seed), ("--minutes", args.minutes)):
        if value is not None:
            raise UsageError(f"{PROGRAM} evaluate: {flag} needs --subset")
    if args.state is not None and args.state.suffix != ".npz":
        raise UsageError(f"{PROGRAM} evaluate: --state without --subset is an .npz file, got {args.state}")
    model, directory = _load_model(args)
    images, _ = data.binarized_test_set(limit=args.limit)
    key = checkpoint.evaluation_key(args.k, len(images), args.seed)
    if args.record:
        manifest_path = Path(directory) / checkpoint.MANIFEST_FILE
        recorded = checkpoint.read_manifest(directory).get("evaluations", {})
        _refuse_to_overwrite(args, manifest_path, exists=key in recorded,
                             what=f"the evaluation {key} in {manifest_path}")
    fingerprint = evaluation.evaluation_fingerprint(model, images, args.k, args.batch_size,
                                                    EVALUATION["chunk_size"], args.seed)
    label = args.model or Path(directory).resolve().name
    partial = args.state or (Path("runs") / "evaluate"
                             / f"{label}-k{args.k}-n{len(images)}-seed{args.seed}-{fingerprint[:12]}.npz")
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
    # with the batch size, which decides the draws (batch b draws from seed * 2**32 + b)
    figures = {**result.as_dict(), "batch_size": args.batch_size}
    if args.record:
        pretrained.record_evaluation(directory, figures, seed=args.seed, replace=args.force)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        _print_evaluation(result)
    return 0


def _print_evaluation(result) -> None:
    """The table ``evaluate`` prints for a :class:`vae.evaluation.Evaluation`."""
    print(f"{result.n_images} test images, k = {result.k}")
    print(f"  NLL (importance weighted)  {result.nll:9.2f} ± {result.nll_stderr:.2f} nats"
          f"  ({result.nll_bits_per_dim:.4f} bits/dim)")
    print(f"  ELBO                       {result.elbo:9.2f} nats")
    print(f"  reconstruction -E log p    {result.reconstruction:9.2f} nats")
    print(f"  KL(q || p)                 {result.kl:9.2f} nats")
    print(f"  active units               {result.active_units:6d} of {result.latent_dim}")


def _run_evaluate_subset(args) -> int:
    """``evaluate --subset N``: k on a fixed random subset, resumable with ``--state`` (chapter 6's shortcut)."""
    import time

    from tqdm.auto import tqdm

    from vae import checkpoint, data, subset_evaluation

    if args.limit is not None:
        raise UsageError(f"{PROGRAM} evaluate: --subset and --limit exclude each other")
    if args.minutes is not None and args.state is None:
        raise UsageError(f"{PROGRAM} evaluate: --minutes needs --state (where the digits done are kept)")
    if args.state is not None and args.state.suffix != ".json":
        raise UsageError(f"{PROGRAM} evaluate: --state with --subset is a .json file, got {args.state}")
    if args.subset > subset_evaluation.TEST_DIGITS:
        raise UsageError(f"{PROGRAM} evaluate: --subset must be at most {subset_evaluation.TEST_DIGITS:,}")
    subset_seed = subset_evaluation.SUBSET_SEED if args.subset_seed is None else args.subset_seed
    model, directory = _load_model(args)
    key = subset_evaluation.subset_evaluation_key(args.k, args.subset, subset_seed, args.seed)
    if args.record:
        manifest_path = Path(directory) / checkpoint.MANIFEST_FILE
        recorded = checkpoint.read_manifest(directory).get("evaluations", {})
        _refuse_to_overwrite(args, manifest_path, exists=key in recorded,
                             what=f"the evaluation {key} in {manifest_path}")
    images, _ = data.binarized_test_set()
    if args.state is not None and args.state.exists():
        print(f"resuming from {args.state}", file=sys.stderr)
    deadline = None if args.minutes is None else time.monotonic() + 60 * args.minutes
    try:
        with tqdm(total=args.subset, desc=f"evaluating (k={args.k}, subset of {args.subset})", unit="digit",
                  file=sys.stderr, disable=None) as bar:
            result: subset_evaluation.SubsetEvaluation | None = subset_evaluation.evaluate_subset(
                model, images, args.subset, k=args.k, subset_seed=subset_seed, seed=args.seed,
                digits_per_save=args.batch_size, state_path=args.state, progress=bar.update,
                stop=None if deadline is None else (lambda: time.monotonic() > deadline))
    except KeyboardInterrupt:
        if args.state is not None and args.state.exists():
            print(f"{PROGRAM} evaluate: the digits done so far are kept in {args.state}; "
                  "run the same command again to continue", file=sys.stderr)
        raise
    if result is None:
        print(f"{PROGRAM} evaluate: stopped after {args.minutes:g} minutes; the digits done so far are in "
              f"{args.state}; run the same command again to continue", file=sys.stderr)
        return 0
    figures = result.as_dict()
    if args.record:
        subset_evaluation.record_subset_evaluation(directory, result, replace=args.force)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    first = subset_evaluation.subset_indices(min(args.subset, 5), subset_seed, result.population)
    print(f"fixed random subset: {args.subset:,} of {result.population:,} test digits "
          f"(subset seed {subset_seed}: indices {', '.join(str(i) for i in first)}"
          f"{', ...' if args.subset > len(first) else ''}), sampling seed {args.seed}")
    _print_evaluation(result.evaluation)
    if result.shortcut_k is not None:
        label = f"  NLL with k = {result.shortcut_k}".ljust(29)
        print(f"{label}{result.shortcut_nll:9.2f} ± {result.shortcut_nll_stderr:.2f} nats on the same digits")
        label = f"  k = {result.shortcut_k} minus k = {result.evaluation.k}".ljust(29)
        print(f"{label}{result.shortcut_excess:+9.2f} ± {result.shortcut_excess_stderr:.2f} nats "
              "(mean per-digit difference)")
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
    _refuse_to_overwrite(args, args.output)
    model, _ = _load_model(args)
    images = model.sample(args.count, seed=args.seed).numpy()
    with atomic_path(args.output, suffix=suffix) as temporary:
        if suffix == ".png":
            save_image_grid(images, temporary)
        else:
            np.savez_compressed(temporary, images=images)
    print(f"wrote {args.count} prior samples to {args.output}")
    return 0


def _lossy_codec(args, name: str | None = None):
    """The learned codec that ``args`` name (``--checkpoint``, else the shipped ``name``), or a UsageError."""
    from vae.lossy import LossyCodec

    try:
        if args.checkpoint is not None:
            if _is_vqvae_checkpoint(args.checkpoint):
                from vae.vq.coding import VQCodec

                return VQCodec.from_checkpoint(args.checkpoint)
            return LossyCodec.from_checkpoint(args.checkpoint)
        from vae.vq.storage import shipped_vqvaes

        if name in shipped_vqvaes():
            from vae.vq.coding import VQCodec

            return VQCodec.pretrained(name)
        return LossyCodec.pretrained(name)
    except ValueError as error:
        raise UsageError(f"{PROGRAM} {args.command}: {error}") from None


def _is_lossy_model(args) -> bool:
    """Whether compress was asked for a learned lossy codec rather than a VAE."""
    if args.checkpoint is not None:
        return not _is_vae_checkpoint(args.checkpoint)
    _compression()  # the lossy package needs constriction too: say so in one line
    from vae.lossy.storage import shipped_codecs
    from vae.vq.storage import shipped_vqvaes

    return args.model in shipped_codecs() or args.model in shipped_vqvaes()


def _checkpoint_architecture(directory: Path) -> str | None:
    """The ``architecture`` a checkpoint folder's manifest names, or None (the loaders report what is wrong)."""
    from vae.checkpoint import MANIFEST_FILE

    try:
        manifest = json.loads((Path(directory) / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(manifest, dict) and isinstance(manifest.get("model"), dict):
        return manifest["model"].get("architecture")
    return None


def _is_vqvae_checkpoint(directory: Path) -> bool:
    """Whether a checkpoint folder's manifest says VQ-VAE (chapter 10's second lossy codec)."""
    return _checkpoint_architecture(directory) == "vqvae"


def _is_vae_checkpoint(directory: Path) -> bool:
    """Whether a checkpoint folder holds a VAE of 'train' (lossless bits back, e.g. chapter 11's PixelVAE)."""
    return _checkpoint_architecture(directory) in defaults.ARCHITECTURES


def _setting(lmbda) -> str:
    """How a lossy model's rate setting is printed: its lambda, or the VQ-VAE's fixed code."""
    return "VQ-VAE indices under its prior" if lmbda is None else f"lambda {lmbda:g}"


def run_compress(args) -> int:
    if (args.input is None) == (not args.test_set):
        raise UsageError(f"{PROGRAM} compress: give either INPUT or --test-set")
    if args.record and not args.test_set:
        raise UsageError(f"{PROGRAM} compress: --record needs --test-set (records are about the test set)")
    _refuse_to_overwrite(args, args.output)
    if not args.output.parent.is_dir():
        raise UsageError(f"{PROGRAM} compress: the folder {args.output.parent} does not exist")
    if _is_lossy_model(args):
        if args.test_set:
            raise UsageError(f"{PROGRAM} compress: --test-set is for the lossless VAEs, not a lossy codec")
        return _compress_lossy(args)
    compression = _compression()
    from vae.checkpoint import atomic_path
    from vae.compression.files import read_images

    try:
        if args.checkpoint is not None:
            codec = compression.BitsBackCodec.from_checkpoint(args.checkpoint, batch_size=args.batch_size)
        else:
            codec = compression.BitsBackCodec.pretrained(args.model, batch_size=args.batch_size)
    except ValueError as error:
        raise UsageError(f"{PROGRAM} compress: {error}") from None
    if args.test_set:
        return _compress_test_set(args, codec)
    images, names = read_images(args.input)
    with _progress_bar(len(images), "compressing", "digit") as bar:
        # the smaller of bits back and the direct code (small inputs); the header records which
        blob = codec.compress(images, names=names, progress=bar.update, fallback=True)
    with atomic_path(args.output) as temporary:
        temporary.write_bytes(blob)
    rates = compression.bits_per_dim(blob)
    method = compression.read_header(blob)["method"]
    if method == "bits-back":
        print(f"compressed {len(images)} digits into {args.output} with bits back (model {codec.name}): "
              f"{len(blob)} bytes, {rates['total']:.4f} bits/pixel ({rates['net']:.4f} without the "
              f"{rates['initial_bits']} initial bits and the {rates['header_bytes']}-byte header)")
    else:
        print(f"compressed {len(images)} digits into {args.output} with the direct code ({method}; smaller than "
              f"bits back for so few digits, no model needed to decompress): {len(blob)} bytes, "
              f"{rates['total']:.4f} bits/pixel ({rates['header_bytes']}-byte header)")
    return 0


def _compress_test_set(args, codec) -> int:
    """compress --test-set [--record]: bits back on the 10,000 binarized test digits, round trip checked."""
    from vae import pretrained
    from vae.checkpoint import atomic_path
    from vae.compression import record

    folder = args.checkpoint if args.checkpoint is not None else pretrained.checkpoint_dir(args.model)
    key = record.compression_key(codec.batch_size)
    if args.record and key in record.recorded_compression(folder) and not args.force:
        raise UsageError(f"{PROGRAM} compress: {folder} already records {key}; add --force to replace it")
    with _progress_bar(2 * 10_000, "compressing, then decompressing", "digit") as bar:
        blob, figures = record.measure_test_set(codec, progress=bar.update)
    with atomic_path(args.output) as temporary:
        temporary.write_bytes(blob)
    print(f"compressed the {figures['count']} binarized test digits into {args.output} with bits back "
          f"(model {codec.name}, batches of up to {codec.batch_size}): {figures['bytes']} bytes, "
          f"{figures['bits_per_dim']:.4f} bits/pixel ({figures['net_bits_per_dim']:.4f} without the "
          f"{figures['initial_bits']} initial bits and the {figures['header_bytes']}-byte header); "
          f"decompressed exactly: compress {figures['compress_seconds']} s, decompress "
          f"{figures['decompress_seconds']} s")
    if args.record:
        stored = record.record_compression(folder, figures, replace=args.force)
        print(f"recorded in {Path(folder) / 'manifest.json'} under compression[{stored!r}]")
    return 0


def _compress_lossy(args) -> int:
    from vae.checkpoint import atomic_path
    from vae.compression.files import read_images
    from vae.lossy import psnr, rates

    images, names = read_images(args.input, grey=True)
    codec = _lossy_codec(args, args.model)
    encoded = codec.encode(images, names)  # the PNG names, if any, travel in the header
    blob = encoded.blob
    with atomic_path(args.output) as temporary:
        temporary.write_bytes(blob)
    rate = rates(blob)
    print(f"compressed {len(images)} grey digits lossily into {args.output} with {codec.name} "
          f"({_setting(codec.lmbda)}): {len(blob)} bytes, {rate['total']:.4f} bits/pixel "
          f"({rate['header_bytes']}-byte header); PSNR {float(psnr(images, encoded.reconstruction).mean()):.2f} dB")
    return 0


def _refuse_to_overwrite_images(args, output: Path) -> None:
    """Decompress's rule: an existing .npz, or a folder that is not empty, needs --force."""
    if output.suffix.lower() == ".npz" or not output.exists():
        _refuse_to_overwrite(args, output)
    elif not output.is_dir():
        raise UsageError(f"{PROGRAM} decompress: {output} is a file, not a folder")
    else:
        _refuse_to_overwrite(args, output, exists=any(output.iterdir()))


@contextlib.contextmanager
def _staging_folder(target: Path):
    """A new hidden folder beside ``target`` (same file system), removed afterwards whatever happens."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_images_atomically(output: Path, images, names, grey: bool = False) -> None:
    """Write restored digits as :func:`vae.compression.files.write_images` does, but staged then moved in.

    An ``.npz`` replaces ``output`` in one rename; a new folder appears whole;
    into an existing folder each PNG is renamed over any file of its name.
    """
    from vae.compression.files import write_images

    with _staging_folder(output) as staging:
        staged = staging / output.name
        write_images(staged, images, names, grey=grey)
        if staged.is_file() or not output.exists():
            os.replace(staged, output)
        else:
            for file in sorted(staged.iterdir()):
                os.replace(file, output / file.name)


def run_store_float16(args) -> int:
    from vae.checkpoint import MANIFEST_FILE, WEIGHTS_FILE, store_weights_in_float16

    if not (args.checkpoint / MANIFEST_FILE).is_file():
        raise UsageError(f"{PROGRAM} store-float16: {args.checkpoint} is not a checkpoint folder "
                         f"(no {MANIFEST_FILE})")
    before = (args.checkpoint / WEIGHTS_FILE).stat().st_size
    manifest = store_weights_in_float16(args.checkpoint)  # a CheckpointError is reported in one line
    after = (args.checkpoint / WEIGHTS_FILE).stat().st_size
    print(f"stored the weights of {args.checkpoint} in float16: {before:,} -> {after:,} bytes")
    moved = manifest.get("float32_figures", {})
    if moved:
        print(f"moved the figures measured with the float32 weights ({', '.join(moved)}) under float32_figures "
              "in the manifest: measure them again")
    return 0


def run_decompress(args) -> int:
    if not args.file.is_file():
        raise UsageError(f"{PROGRAM} decompress: {args.file}: no such file")
    _refuse_to_overwrite_images(args, args.output)
    compression = _compression()

    blob = args.file.read_bytes()
    from vae.lossy import container as lossy_container

    if blob.startswith(lossy_container.MAGIC):
        return _decompress_lossy(args, blob)
    header = compression.read_header(blob)
    codec = None
    if args.checkpoint is not None and not _is_vae_checkpoint(args.checkpoint):
        raise UsageError(f"{PROGRAM} decompress: {args.file} is a lossless file; {args.checkpoint} is not "
                         "a VAE's checkpoint folder")
    if args.checkpoint is not None and header["model"] is not None:  # a direct file needs no model
        try:
            codec = compression.BitsBackCodec.from_checkpoint(args.checkpoint, name=header["model"],
                                                              batch_size=header["batch_size"])
        except (ValueError, KeyError) as error:
            raise UsageError(f"{PROGRAM} decompress: {error}") from None
    with _progress_bar(header["count"], "decompressing", "digit") as bar:
        decompress = compression.decompress if codec is None else codec.decompress
        restored = decompress(blob, progress=bar.update)
    _write_images_atomically(args.output, restored.images, restored.names)
    method = restored.header.get("method", "bits-back")  # files written before the field existed are bits back
    if method == "bits-back":
        how = f"bits back with model {restored.header['model']}, checksums verified"
    else:
        how = f"direct code ({method}), no model needed, CRC-32 verified"
    print(f"restored {len(restored.images)} digits into {args.output} ({how})")
    return 0


def _decompress_lossy(args, blob: bytes) -> int:
    from vae.lossy import read_header

    header = read_header(blob)
    codec = _lossy_codec(args, header["model"])
    from vae.vq.coding import VQCodec

    if header.get("architecture") == "vqvae" and not isinstance(codec, VQCodec):
        raise UsageError(f"{PROGRAM} decompress: {args.file} was made by the VQ-VAE {header['model']!r}, "
                         f"not by the hyperprior codec of {args.checkpoint}")
    restored = codec.decompress(blob)
    _write_images_atomically(args.output, restored.images, header.get("names"), grey=True)
    print(f"restored {len(restored.images)} grey digits into {args.output} (lossy model {header['model']}, "
          f"{_setting(header.get('lmbda'))}; the decoder's reconstruction matched the encoder's checksum)")
    return 0


def _failed(result: "grading.SubmissionResult") -> list["grading.ExerciseResult"]:
    return [exercise for exercise in result.exercises if not exercise.passed]


def _check_grade_outputs(args) -> None:
    """Usage errors of the --csv and --junit reports, found before any notebook runs."""
    for option, path in (("--csv", args.csv), ("--junit", args.junit)):
        if path is None:
            continue
        if not path.parent.is_dir():
            raise UsageError(f"{PROGRAM} grade: {option}: the folder {path.parent} does not exist")
        _refuse_to_overwrite(args, path)


def _write(text: str, file) -> None:
    """Print a line without breaking a progress bar that may be on the terminal."""
    from tqdm import tqdm

    tqdm.write(text, file=file)
    file.flush()


def run_grade(args) -> int:
    from vae import grading
    from vae.checkpoint import atomic_path

    if args.list:
        for exercise in grading.EXERCISES.values():  # each a grading.Exercise
            print(f"{exercise.id} {exercise.title} (chapter {exercise.chapter}): {exercise.checks}")
        return 0
    if not args.submissions:
        raise UsageError(f"{PROGRAM} grade: give at least one SUBMISSION (a notebook or a folder) (see --help)")
    _check_grade_outputs(args)
    if args.reference is not None and not args.reference.exists():
        raise UsageError(f"{PROGRAM} grade: --reference: {args.reference} does not exist")
    try:
        paths = grading.submission_paths(args.submissions)
    except grading.GradingError as error:
        raise UsageError(f"{PROGRAM} grade: {error}") from None
    folders = [path for path in args.submissions if path.is_dir()]
    out = args.out if args.out is not None else (Path("graded") if folders else None)
    if out is not None:
        _refuse_to_overwrite(args, out / "gradebook.csv")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"{PROGRAM} grade: --jobs must be >= 1")
    with _progress_bar(len(paths), "grading", "notebook", enabled=len(paths) > 1) as bar:
        def done(result):
            if result.error is not None:
                _write(f"{PROGRAM} grade: {result.error}", sys.stderr)
            else:
                _write(grading.format_table(result) + ("\n" if len(paths) > 1 else ""), sys.stdout)
            bar.update()

        limits = {"timeout": args.timeout, "memory_limit": int(args.memory_limit * 2**20),
                  "output_limit": int(args.output_limit * 2**20)}
        if len(paths) == 1:
            results = [grading.grade_submission(paths[0], args.reference, **limits)]
            done(results[0])
        else:
            results = grading.grade_submissions(paths, args.reference, jobs=args.jobs, done=done, **limits)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "gradebook.csv", suffix=".csv") as temporary:
            grading.write_gradebook(results, temporary, folders)
        grading.write_feedback(results, out / "feedback", folders)
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
              + (f"; CSV in {args.csv}" if args.csv else "")
              + (f"; gradebook in {out / 'gradebook.csv'}, feedback in {out / 'feedback'}" if out else ""))
    return 0 if all(result.passed for result in results) else 1


COMMANDS = {"train": run_train, "train-codec": run_train_codec, "train-vqvae": run_train_vqvae, "evaluate": run_evaluate, "sample": run_sample, "compress": run_compress,
            "decompress": run_decompress, "store-float16": run_store_float16, "grade": run_grade}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status. Introduced in chapter 5."""
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = build_parser().parse_args(argv)
        args.argv = argv
        from vae import quiet  # noqa: F401  (imports TensorFlow silently before anything else does)

        return COMMANDS[args.command](args)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return 130
    except (CommandFailed, ValueError, OSError) as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 1
