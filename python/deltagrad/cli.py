"""The `deltagrad` command: info | train | curve-fit | bench."""

# Argument parsing only: each command calls the library (deltagrad.experiments for train and
# curve-fit, deltagrad.benchmark for bench) and turns its errors into exit status 2.

from __future__ import annotations

import argparse
import json
import sys

from .experiments.curve_fit import run_curve_fit
from .experiments.train_cnn import run_train_cnn
from .experiments.train_mlp import TASKS, check_output_path, run_train

__all__ = ["main", "build_parser", "run_curve_fit", "run_train", "run_train_cnn"]


def _cmd_info(args: argparse.Namespace) -> int:
    from ._runtime import info

    facts = info()
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        width = max(len(k) for k in facts)
        for key, value in facts.items():
            print(f"{key:<{width}}  {value}")
    return 0


def _cmd_curve_fit(args: argparse.Namespace) -> int:
    if args.n < 2:
        print("deltagrad curve-fit: --n must be >= 2 for cross-validation", file=sys.stderr)
        return 2
    try:
        run_curve_fit(
            n=args.n,
            n_test=args.n_test,
            noise=args.noise,
            seed=args.seed,
            folds=args.folds,
            penalize_bias=not args.no_penalize_bias,
            out=args.out,
        )
    except OSError as e:
        print(f"deltagrad curve-fit: {_os_error(e)}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as e:
        print(f"deltagrad curve-fit: {e}", file=sys.stderr)
        return 2
    if args.out is None:
        print("\n(pass --out DIR to write the plots)")
    return 0


def _os_error(e: OSError) -> str:
    """One line for an OSError: what failed, on which file."""
    what = e.strerror or str(e)
    return f"{what}: {e.filename}" if e.filename else what


def _check_outputs(command: str, paths: list[tuple[str | None, str]]) -> bool:
    """Every output path given can be written (its directory exists); False after printing
    one line for the first that cannot."""
    for value, flag in paths:
        if value is None:
            continue
        try:
            check_output_path(value, flag)
        except ValueError as e:
            print(f"deltagrad {command}: {e}", file=sys.stderr)
            return False
    return True


def _cmd_train(args: argparse.Namespace) -> int:
    """`deltagrad train`: the MLP (experiments.train_mlp.run_train), or with --model cnn the
    small CNN on the digits (experiments.train_cnn.run_train_cnn, same flags but --hidden);
    one-line errors, exit status 2."""
    cnn = args.model == "cnn"
    distributed = getattr(args, "distributed", False)
    if cnn and distributed:
        print(
            "deltagrad train: --distributed trains the MLP (--model mlp) for now; "
            "--model cnn runs in one process",
            file=sys.stderr,
        )
        return 2
    if cnn and args.hidden is not None:
        print(
            "deltagrad train: --hidden sizes the MLP (--model mlp); --model cnn has its own "
            "layer widths (16, 32, 64): leave --hidden out",
            file=sys.stderr,
        )
        return 2
    if args.hidden is None:
        args.hidden = list(_DEFAULT_HIDDEN)
    if args.resume and args.checkpoint is None:
        print("deltagrad train: --resume needs --checkpoint PATH", file=sys.stderr)
        return 2
    if distributed:
        return _train_distributed(args)
    outputs = [(args.save, "--save"), (args.plot, "--plot"), (args.checkpoint, "--checkpoint")]
    if not _check_outputs("train", outputs):
        return 2
    extra = {} if cnn else {"hidden": args.hidden}  # --hidden with --model cnn: refused above
    try:
        (run_train_cnn if cnn else run_train)(
            dataset=args.dataset,
            device=args.device,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            optimizer=args.optimizer,
            weight_decay=args.weight_decay,
            seed=args.seed,
            save=args.save,
            plot=args.plot,
            progress=not args.no_progress,
            checkpoint=args.checkpoint,
            resume=args.resume,
            **extra,
        )
    except FloatingPointError as e:  # dg.train.TrainingDivergedError: says where and why
        print(f"deltagrad train: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"deltagrad train: {_os_error(e)}", file=sys.stderr)
        return 2
    except (RuntimeError, ImportError, ValueError, TypeError) as e:
        print(f"deltagrad train: {e}", file=sys.stderr)
        return 2
    return 0


def _train_distributed(args: argparse.Namespace) -> int:
    """`deltagrad train --distributed` (under mpiexec -n N): the same run data-parallel over
    the ranks, --batch-size being the global batch; rank 0 prints the report and writes the
    files. An error on any rank ends the whole job (MPI_Abort) with its message."""
    from . import distributed as dist

    try:
        dist.init_process_group("mpi")
    except ImportError as e:
        print(f"deltagrad train --distributed: {e}", file=sys.stderr)
        return 2
    rank, world = dist.get_rank(), dist.get_world_size()
    _share_cores(dist)
    args.distributed = False  # the run itself: fit goes data-parallel on its own
    if rank != 0:
        args.save = args.plot = None
    try:
        run_train(
            dataset=args.dataset,
            device=args.device,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            optimizer=args.optimizer,
            weight_decay=args.weight_decay,
            hidden=args.hidden,
            seed=args.seed,
            save=args.save,
            plot=args.plot,
            progress=not args.no_progress and rank == 0,
            checkpoint=args.checkpoint,
            resume=args.resume,
            echo=print if rank == 0 else _quiet,
        )
    except (FloatingPointError, OSError, RuntimeError, ImportError, ValueError, TypeError) as e:
        msg = _os_error(e) if isinstance(e, OSError) else str(e)
        print(f"deltagrad train: rank {rank} of {world}: {msg}", file=sys.stderr, flush=True)
        dist.abort(2)  # the other ranks may wait in a collective: end them all
    if rank == 0:
        print(f"(data-parallel over {world} MPI ranks, global batch {args.batch_size})")
    dist.barrier()
    dist.destroy_process_group()
    return 0


def _share_cores(dist: object) -> None:
    """Without OMP_NUM_THREADS, the ranks on one machine share its cores: each one takes
    cores / (ranks on this machine) threads, at least 1 (not every rank all the cores)."""
    import os

    if "OMP_NUM_THREADS" in os.environ:
        return
    from mpi4py import MPI

    from ._runtime import get_num_threads, set_num_threads

    local = MPI.COMM_WORLD.Split_type(MPI.COMM_TYPE_SHARED)
    here = local.Get_size()
    local.Free()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    set_num_threads(max(1, min(get_num_threads(), (cores or 1) // here)))


def _quiet(*args: object, **kwargs: object) -> None:
    return None


def _cmd_bench(args: argparse.Namespace) -> int:
    from ._files import atomic_write
    from .benchmark import format_report, plot_report, run_benchmarks

    if not _check_outputs("bench", [(args.json, "--json"), (args.plot, "--plot")]):
        return 2
    res = run_benchmarks(quick=args.quick, n_threads=args.threads, progress=not args.no_progress)
    print(format_report(res))
    try:
        if args.json:
            with atomic_write(args.json, "w") as f:
                json.dump(res, f, indent=2)
            print(f"\nresults written to {args.json}")
        if args.plot:
            if plot_report(res, args.plot):
                print(f"plot written to {args.plot}")
            else:
                print('--plot: matplotlib is not installed (pip install "deltagrad[examples]")')
    except OSError as e:
        print(f"deltagrad bench: {_os_error(e)}", file=sys.stderr)
        return 2
    return 0


#: the MLP's hidden widths when --hidden is not given (None in the parser, so that an explicit
#: --hidden with --model cnn can be told apart from the default and refused)
_DEFAULT_HIDDEN = (64, 32)


def _parse_hidden(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()] if text.strip() else []
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hidden: expected comma-separated layer widths such as 64,32, got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"--hidden: widths must be >= 1, got {text!r}")
    return sizes


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _at_least_2(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deltagrad", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="version, build, CPU ISA, threads, CUDA")
    p.add_argument("--json", action="store_true", help="print the facts as JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "curve-fit",
        help="Bishop's polynomial curve fitting, regularization "
        "and cross-validation experiment (Deep Learning §1.2)",
    )
    p.add_argument("--n", type=_positive_int, default=10, help="training points (default 10)")
    p.add_argument("--n-test", type=_positive_int, default=100, help="test points (default 100)")
    p.add_argument("--noise", type=float, default=0.3, help="noise std (default 0.3)")
    p.add_argument(
        "--seed",
        type=int,
        default=38,
        help="training-set seed (default 38); the test set uses seed + 1000",
    )
    p.add_argument("--folds", type=_at_least_2, default=5, help="S of S-fold CV (default 5)")
    p.add_argument(
        "--no-penalize-bias",
        action="store_true",
        help="leave w_0 out of the penalty lambda/2 ||w||^2",
    )
    p.add_argument("--out", default=None, help="directory for the PNG plots")
    p.set_defaults(func=_cmd_curve_fit)

    p = sub.add_parser(
        "train",
        help="train an MLP on a medical data set shipped with scikit-learn and report test metrics",
    )
    p.add_argument(
        "--dataset",
        choices=list(TASKS),
        default="breast_cancer",
        help="breast_cancer (binary, BCE with logits; positive = malignant), "
        "diabetes (regression, MSE), digits (10 classes, cross-entropy)",
    )
    p.add_argument(
        "--model",
        choices=["mlp", "cnn"],
        default="mlp",
        help="mlp (default; sized by --hidden), or cnn: a small conv-bn-relu network "
        "(deltagrad.models.SmallCNN) for the image data set digits (8x8)",
    )
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--epochs", type=_positive_int, default=30)
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    p.add_argument(
        "--optimizer",
        choices=["sgd", "adam"],
        default="adam",
        help="adam, or sgd with momentum 0.9",
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        default=1e-3,
        help="L2 penalty added to the gradient (default 1e-3)",
    )
    p.add_argument(
        "--hidden",
        type=_parse_hidden,
        default=None,
        help="hidden layer widths of the MLP, e.g. 64,32 (default); not with --model cnn",
    )
    p.add_argument("--seed", type=int, default=1, help="split, init and shuffling seed (default 1)")
    p.add_argument(
        "--save",
        default=None,
        metavar="MODEL.npz",
        help="save the parameters (an .npz archive, at exactly this path)",
    )
    p.add_argument("--plot", default=None, metavar="CURVES.png", help="learning curves")
    p.add_argument(
        "--checkpoint",
        default=None,
        metavar="PATH",
        help="write a checkpoint after every epoch (atomically: a kill leaves the last one)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from --checkpoint if it exists (bit-identical to an uninterrupted run)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over MPI ranks: run under mpiexec -n N (--batch-size is the "
        "global batch; rank 0 reports). Needs pip install 'deltagrad[distributed]'",
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "bench",
        help="GEMM GFLOP/s, activation GB/s and MLP samples/s against "
        "NumPy / PyTorch, with this machine's measured peak and copy bandwidth",
    )
    p.add_argument("--quick", action="store_true", help="fewer sizes and rounds")
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="threads for every library (default: deltagrad's current setting)",
    )
    p.add_argument("--json", default=None, metavar="OUT.json", help="write the results")
    p.add_argument("--plot", default=None, metavar="OUT.png", help="plot the results")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
