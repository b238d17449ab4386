"""`study`: run a GAN-augmentation study, resume it, rebuild its report, plan it (what it would run and
cost), confirm its finding with fresh seeds, run it inside a Slurm allocation, browse the presets.

Every problem the user can fix (a bad key in the study file, a dataset that is not there, a study
folder that holds another spec) ends the command with exit code 2 and one line `error: ...`; nothing
already computed is touched.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator

from study.checks import SpecError
from study.folder import StudyError, StudyFolder, split_study_dir
from study.presets import DEFAULT_PRESET, list_presets, preset_text

DEFAULT_STORAGE = "studies"
EXIT_USAGE = 2
EXIT_BUG = 1

EPILOG = """\
examples:
  study run                              the `quick` preset: mnist-5k, offline, a few minutes on 2 CPUs
  study run abadi-mnist --set seeds=1    a bundled preset with an override
  study run my-study.toml --storage s3://bucket/studies
  study resume studies/quick             continue an interrupted study; finished work is not redone
  study resume studies/quick --set seeds=5   extend it: only the new trials and GANs run
  study report studies/quick             rebuild results.csv (if missing) and report/ from the folder
  study report studies/a studies/b       one report over several study folders of one dataset
  study plan abadi-mnist                 GANs, trials, resources, a time estimate and every check; runs nothing
  study confirm studies/quick            rerun the chosen arm and R against R = 0 with fresh seeds, subsets, GANs
  study presets                          what is bundled;  study show quick  prints one as TOML
"""


def _package_version() -> str:
    from study.environment import package_version

    return package_version() or "(source tree, not installed)"


class _OneLineParser(argparse.ArgumentParser):
    """argparse's errors in the tool's one-line shape (usage + message was two lines, without `allowed:`)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message}; allowed: the arguments `{self.prog} --help` "
                              "lists\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="study",
        description="How much does a classifier gain from GAN-generated training images, and at which "
                    "synthetic-to-real ratio R? Trains GANs with Ray Train, sweeps R, the generator width "
                    "alpha, the real sample size n and the classifier with Ray Tune, and reports the "
                    "answer with confidence intervals.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show Ray's and Tune's output (status tables, worker logs) on the console instead "
                             "of only in the study's study.log, and the full traceback of an unexpected error")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineParser)

    run = commands.add_parser("run", help="run a study from a TOML file or a bundled preset")
    run.add_argument("spec", nargs="?", default=DEFAULT_PRESET,
                     help="a study file (.toml) or a preset name (default: quick)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a study-file key, e.g. --set gan.epochs=5 --set sizes=[500]")
    run.add_argument("--storage", default=DEFAULT_STORAGE,
                     help=f"where the study folder goes: a path or s3://, gs:// URI (default: ./{DEFAULT_STORAGE})")
    run.add_argument("--name", help="the study folder's name (default: the spec's `name`)")
    run.add_argument("--address", help="join this Ray cluster (default: RAY_ADDRESS, else an embedded one)")
    run.add_argument("--gan-cache", metavar="DIR|URI",
                     help="the GAN cache shared by studies (default: <storage>/gan-cache)")
    run.add_argument("--no-report", action="store_true", help="skip building report/ at the end")

    resume = commands.add_parser("resume", help="continue an interrupted study; finished work is kept")
    resume.add_argument("dir", help="the study folder (it holds spec.toml)")
    resume.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extend the study: more seeds, sizes, ratios, classifiers (only new work runs)")
    resume.add_argument("--address", help="join this Ray cluster")
    resume.add_argument("--gan-cache", metavar="DIR|URI",
                        help="the GAN cache, when it moved since the study ran (default: the one run.json names)")
    resume.add_argument("--no-report", action="store_true", help="skip building report/ at the end")

    report = commands.add_parser("report", help="rebuild report/ (and a missing results.csv) from a folder, "
                                                "or one report over several folders of one dataset")
    report.add_argument("dirs", nargs="+", metavar="DIR", help="the study folder(s)")
    report.add_argument("--out", metavar="DIR",
                        help="where a report over several folders goes (default: <storage>/report-<a>+<b>...)")

    plan = commands.add_parser("plan", help="what a study would run and cost, and every check `study run` "
                                            "makes; nothing is run or written (exit 2 on any problem)")
    plan.add_argument("spec", nargs="?", default=DEFAULT_PRESET, help="a study file (.toml) or a preset name")
    plan.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="override a study-file key, as for `study run`")
    plan.add_argument("--storage", default=DEFAULT_STORAGE, help="the storage root whose GAN cache and earlier "
                                                                 "studies the plan reads")
    plan.add_argument("--gan-cache", metavar="DIR|URI", help="the GAN cache (default: <storage>/gan-cache)")

    confirm = commands.add_parser(
        "confirm", help="rerun a study's chosen arm and R against R = 0 with fresh seeds (fresh real subsets and "
                        "GANs): one test per size group, free of the exploration's winner's curse")
    confirm.add_argument("dir", help="the explored study folder (it holds spec.toml and results)")
    confirm.add_argument("--seeds", type=int, help="seeds of each confirm study (default: the explored study's, "
                                                   "at least 3)")
    confirm.add_argument("--size", help="confirm only this size group (default: every size)")
    confirm.add_argument("--name", help="the confirm study's name (default: <explored name>-confirm, plus a "
                                        "suffix per group when several are confirmed, e.g. -n500)")
    confirm.add_argument("--storage", help="where the confirm studies go (default: the explored study's storage, "
                                           "sharing its GAN cache)")
    confirm.add_argument("--address", help="join this Ray cluster")
    confirm.add_argument("--no-report", action="store_true", help="skip building report/ at the end")

    slurm = commands.add_parser(
        "slurm", help="inside a Slurm allocation: start Ray on its nodes, run or resume the study, stop Ray "
                      "(docs/slurm.md)")
    slurm.add_argument("study_command", choices=["run", "resume"], help="what the driver runs")
    slurm.add_argument("rest", nargs=argparse.REMAINDER, help="its arguments, as for `study run` / `study resume`")

    commands.add_parser("presets", help="list the bundled presets")
    show = commands.add_parser("show", help="print a bundled preset's TOML")
    show.add_argument("preset")
    for sub in commands.choices.values():   # -v after the subcommand too (`study run -v`)
        sub.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _finish(folder, no_report: bool) -> None:
    from study import report_build

    report = None if no_report else report_build.build_report(folder)
    print_summary(folder)
    if report:
        print(f"[study] report: {report}")


def print_summary(folder) -> None:
    """The short answer: the best R per size, from results.csv (study.api.Study.answer)."""
    from study import api

    try:
        answer = api.Study(folder).answer
    except ImportError:  # the analysis package is optional for the runner itself
        return
    if answer:
        print("\n[study] the answer (details and tables in the report):")
        print(answer)


@contextlib.contextmanager
def _quiet(args) -> Iterator[None]:
    """A study run with a quiet console (Ray's and Tune's output in the study's log), unless -v; Ray
    started for it is stopped before the summary, so nothing of it prints afterwards."""
    from study import console, interrupts
    from study.cluster import release_ray

    with console.quiet(enabled=not args.verbose):
        try:
            yield
        finally:
            release_ray()
            interrupts.install()   # ray.shutdown() puts the default SIGINT handler back: Ctrl-C during the
            #                        report would kill the process instead of stopping it cleanly


def cmd_run(args) -> int:
    from study import api

    spec = api.load(args.spec, args.overrides, args.name)
    args.study_dir = f"{args.storage.rstrip('/')}/{spec.name}"   # for the resume line if interrupted
    with _quiet(args):
        study = api.run_spec(spec, storage=args.storage, address=args.address, gan_cache=args.gan_cache,
                             with_report=False)
    _finish(study.folder, args.no_report)
    return 0


def cmd_resume(args) -> int:
    from study import api

    spec, storage = api.resume_spec(args.dir, args.overrides)
    with _quiet(args):
        study = api.run_spec(spec, storage=storage, address=args.address, gan_cache=args.gan_cache,
                             with_report=False, resume=True)
    _finish(study.folder, args.no_report)
    return 0


def cmd_report(args) -> int:
    from study import report_build

    if len(args.dirs) > 1 or args.out:
        return _merged_report(args.dirs, args.out)
    storage, name = split_study_dir(args.dirs[0])
    folder = StudyFolder.for_spec(storage, name)
    if not folder.store.exists():
        raise StudyError(f"{args.dirs[0]}: no such study folder; allowed: a folder written by `study run`")
    report = report_build.build_report(folder)
    print_summary(folder)
    if report:
        print(f"[study] report: {report}")
    return 0


def _merged_report(dirs: list[str], out: str | None) -> int:
    """One report over several local study folders of one dataset (or one folder's report elsewhere)."""
    from analysis import build_report
    from study.folder import StudyError
    from trainables.files.storage import is_uri

    remote = [d for d in dirs if is_uri(d)]
    if remote:
        raise StudyError(f"{remote[0]}: a report over several folders reads local folders; allowed: local "
                         "paths (copy remote studies down first, e.g. with `aws s3 sync`)")
    storage, _ = split_study_dir(dirs[0])
    out = out or f"{storage}/report-{'+'.join(split_study_dir(d)[1] for d in dirs)}"
    print(f"[study] report: {build_report(dirs, out)}")
    return 0


def cmd_confirm(args) -> int:
    from study import confirm
    from study.folder import StudyFolder

    explored_storage, name = split_study_dir(args.dir)
    explored = StudyFolder.for_spec(explored_storage, name)
    # Same storage root: the confirm studies share the explored study's GAN cache, as `study run` there would.
    gan_cache = None if args.storage else explored.recorded_cache()
    prepared = confirm.prepare(explored, args.dir, args.storage or explored_storage, seeds=args.seeds,
                               name=args.name, size=args.size, gan_cache=gan_cache)
    with _quiet(args):
        folders = confirm.run(prepared, args.address)
    for folder in folders:
        _finish(folder, args.no_report)
    return 0


def cmd_plan(args) -> int:
    from study.plan_checks import spec_problems
    from study.plan_view import describe
    from study.tracking import endpoint_checks

    spec, problems = spec_problems(args.spec, args.overrides)   # every problem of the file, not the first
    if spec is not None:
        for check in endpoint_checks(spec, None):
            try:
                check()
            except SpecError as err:
                problems.append(str(err))
        from trainables.data.cache import read_only

        with read_only():   # the plan writes nothing: no decoded dataset cache, wherever the data is loaded
            lines, found = describe(spec, args.storage, args.gan_cache)
        if problems:
            lines.insert(0, "[plan] the keys named below read as their defaults here")
        print("\n".join(lines))
        problems += found
    for problem in dict.fromkeys(problems):   # a check both lists make (tracking) is said once
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return EXIT_USAGE
    print("[plan] every check `study run` makes before it starts passed")
    return 0


def cmd_slurm(args) -> int:
    from study.slurm import launch

    return launch(args.study_command, args.rest, verbose=args.verbose)


def cmd_presets(args) -> int:
    presets = list_presets()
    width = max(len(name) for name, _ in presets)
    for name, description in presets:
        print(f"{name:<{width}}  {description}")
    return 0


def cmd_show(args) -> int:
    print(preset_text(args.preset), end="")
    return 0


COMMANDS = {"run": cmd_run, "resume": cmd_resume, "report": cmd_report, "plan": cmd_plan, "confirm": cmd_confirm,
            "slurm": cmd_slurm, "presets": cmd_presets, "show": cmd_show}


def _user_errors() -> tuple[type[BaseException], ...]:
    from analysis.inputs import StudyDirError
    from trainables.data.errors import DataError
    from trainables.files.storage import StorageError

    return (SpecError, StudyError, DataError, StudyDirError, StorageError)


def _error_line(err: BaseException) -> str:
    """A user error as the one line `<key>: <problem>; allowed: <...>`. The data layer (trainables) speaks
    of files, not keys: its errors are the `dataset` key's, and their closing remedy ("...; fix or remove
    the file") is what is allowed."""
    from trainables.data.errors import DataError

    text = " ".join(str(err).split("\n"))
    if isinstance(err, DataError):
        if not text.startswith("dataset"):
            text = f"dataset: {text}"
        if "; allowed: " not in text and "; " in text:
            problem, remedy = text.rsplit("; ", 1)
            text = f"{problem}; allowed: {remedy}"
    return text


def _resume_hint(args) -> str:
    if args.command == "resume":
        return f"study resume {args.dir}"
    if args.command == "confirm":   # the same command continues every confirm study; finished trials are kept
        return f"study confirm {args.dir}"
    if getattr(args, "study_dir", None):
        from trainables.files.storage import is_uri

        never_written = not is_uri(args.study_dir) and not os.path.exists(os.path.join(args.study_dir, "spec.toml"))
        # Stopped before the study folder was written (a slow check, Ray starting): there is nothing to resume.
        return "the same command (nothing was written yet)" if never_written else f"study resume {args.study_dir}"
    return "the same command"


def main(argv: list[str] | None = None) -> int:
    from study import interrupts

    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:   # `study` alone: what it can do, never a study started by accident
        parser.print_help()
        return 0
    interrupts.install(watchdog=True)   # a stop ends the command within seconds, whatever it is doing
    try:
        return COMMANDS[args.command](args)
    # First: matching _user_errors() imports its error modules, which a second Ctrl-C could interrupt.
    except (KeyboardInterrupt, interrupts.StudyInterrupted) as err:
        interrupts.abort_on_next()
        where = f" ({err})" if str(err) else ""
        print(f"\n[study] interrupted{where}; finished work is saved, nothing final was written; continue with "
              f"`{_resume_hint(args)}`", file=sys.stderr)
        interrupts.finished()
        return interrupts.EXIT_INTERRUPTED
    except _user_errors() as err:
        print(f"error: {_error_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:
        from trainables.files.storage import disk_full_from

        full = disk_full_from(err)  # a full disk under a write that is not ours (a plot, Ray's files)
        if full is not None:
            print(f"error: {full}", file=sys.stderr)
            return EXIT_USAGE
        if args.verbose:
            raise
        return _report_bug(err)


def _report_bug(err: Exception) -> int:
    """Anything not a user error is a bug in this tool: one line naming it, the traceback in a file."""
    import tempfile
    import time
    import traceback

    log = os.path.join(tempfile.gettempdir(), f"study-error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log")
    with open(log, "w") as handle:
        traceback.print_exc(file=handle)
    first = str(err).splitlines()[0] if str(err) else ""
    print(f"error: unexpected {type(err).__name__}: {first} (a bug in study; the traceback is in {log}, "
          "rerun with -v to see it here; please report it)", file=sys.stderr)
    return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
