"""The study folder `<storage>/<name>/`: the checks before anything is written, spec.toml, env.json,
and run.json (where the study's GANs live, so `study resume` finds the same cache)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass

from study.environment import environment_info
from study.locations import (
    cache_for_record,
    cache_from_record,
    check_writable_folder,
    storage_root_of,
)
from study.spec import spec_from_dict
from study.spec_text import spec_to_dict, spec_to_toml
from trainables.files import cache_lock
from trainables.files.storage import Store, is_uri
from trainables.terms.spec_keys import flat_keys

RUN_FILE = "run.json"
SPEC_FILE = "spec.toml"
LOCK_FILE = ".study.lock"   # held (fcntl) by the one driver running this study
NAME_BYTES = 255   # the longest file name Linux, macOS and Windows filesystems take


class StudyError(ValueError):
    """A problem with the study folder the user can fix (exit code 2 on the command line)."""


@dataclass
class StudyFolder:
    store: Store

    @classmethod
    def for_spec(cls, storage: str, name: str) -> StudyFolder:
        return cls(Store.reachable(storage).sub(name))

    @property
    def root(self) -> str:
        return self.store.uri()

    def check(self, spec, *, resume: bool) -> str:
        """Refuse an unwritable storage or a folder holding a different spec; returns the spec's TOML.
        Leaves nothing behind: the folders made to prove the storage writable are removed again (a later
        refusal must not leave an empty study folder); `prepare` makes them once every check passed."""
        name = self.store.root.rstrip("/").rsplit("/", 1)[-1]
        if len(name.encode()) > NAME_BYTES:   # the OS would say "File name too long" about --storage
            raise StudyError(f"name: {name[:40]}... is {len(name.encode())} bytes, longer than a folder name may be; "
                             f"allowed: at most {NAME_BYTES} bytes (the spec's `name`, or --name)")
        check_writable_folder(self.store, "--storage", "allowed: a writable folder or an s3:// / gs:// URI")
        text = spec_to_toml(spec)
        if self.store.exists(SPEC_FILE) and self.store.read_text(SPEC_FILE) != text and not resume:
            raise StudyError(
                f"{self.root}: holds a study with a different spec; allowed: --name NEW to start "
                f"another study, or `study resume {self.root}` to continue this one")
        return text

    def refuse_if_running(self) -> None:
        """StudyError when another live run or resume holds this study, checked before Ray starts (a
        second run was refused only after starting its own Ray). Only a folder that exists can be
        running; nothing is created for a new one."""
        if not self.store.is_local or not self.store.exists(LOCK_FILE):
            return   # never ran here (a lock file stays once a driver held it); remote: refused when taken
        with open(self.store.local_path(LOCK_FILE)) as handle:   # read only: a refusal writes nothing
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise self._running(cache_lock._describe(handle.read())) from None
            fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Hold the study's lock for the block; StudyError naming the holder when another live run or
        resume of this study holds it (a dead one's lock is taken over: the kernel released it)."""
        try:
            with cache_lock.hold_or_refuse(self.store, LOCK_FILE):
                yield
        except cache_lock.LockBusy as busy:
            raise self._running(str(busy)) from None

    def _running(self, holder: str) -> StudyError:
        return StudyError(f"{self.root}: this study is running ({holder}); allowed: wait for it to finish, "
                          f"or stop it and then `study resume {self.root}`")

    def run_record(self) -> dict:
        """run.json: the GAN cache and the resolved spec the study ran with. {} when there is none, or
        when it cannot be read back: then it is set aside (renamed, kept) with a line saying what the
        resume goes without, and the next run writes a fresh one."""
        if not self.store.exists(RUN_FILE):
            return {}
        try:
            record = json.loads(self.store.read_text(RUN_FILE))
            problem = None if isinstance(record, dict) else f"a JSON {type(record).__name__}, not an object"
        except (ValueError, UnicodeDecodeError) as err:
            record, problem = {}, f"not valid JSON ({err})"
        if problem is None:
            return record
        moved = self.store.set_aside(RUN_FILE)
        print(f"[study] {self.root}/{RUN_FILE} is damaged ({problem}); set aside as {moved}; this resume cannot "
              "check spec.toml against it and uses the default GAN cache (or --gan-cache)", flush=True)
        return {}

    def stored_spec_text(self) -> str:
        """spec.toml's text. One that is no longer TOML (a bad copy, a torn write on a filesystem without
        atomic rename) is set aside and written again from the spec run.json recorded; an edited but
        readable one is left for check_unedited to refuse."""
        try:
            text = self.store.read_text(SPEC_FILE)
            tomllib.loads(text)
            return text
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            problem = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
        recorded = self.run_record().get("spec")
        if recorded is None:
            raise StudyError(f"{self.root}/{SPEC_FILE} cannot be read ({problem}) and {RUN_FILE} holds no copy; "
                             f"allowed: restore {SPEC_FILE} from a copy of the study file it was run with")
        text = spec_to_toml(spec_from_dict(recorded, check_registries=False))
        moved = self.store.set_aside(SPEC_FILE)
        self.store.write_text(text, SPEC_FILE)
        print(f"[study] {self.root}/{SPEC_FILE} cannot be read ({problem}); set aside as {moved} and written "
              f"again from {RUN_FILE}", flush=True)
        return text

    def check_unedited(self, spec) -> None:
        """StudyError with the changed keys when spec.toml no longer says what the study ran with."""
        recorded = self.run_record().get("spec")
        if recorded is None:
            return   # no run.json (a run stopped right after spec.toml), or a damaged one (said when set aside)
        try:   # through today's schema: a key added since the study ran takes its default, not a "change"
            recorded = spec_to_dict(spec_from_dict(recorded, check_registries=False))
        except ValueError:
            pass   # a key this version no longer knows: compare as recorded
        changes = spec_differences(recorded, spec_to_dict(spec))
        if changes:
            shown = "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5 else "")
            raise StudyError(f"{self.root}/{SPEC_FILE} was edited after the study ran ({shown}); allowed: put it "
                             f"back, or extend the study with `study resume {self.root} --set KEY=VALUE`, or start "
                             "a new one with `study run FILE --name NEW`")

    def record_run(self, started_at: float, wall_seconds: float, resume: bool, stages: dict[str, float]) -> None:
        """Append this run's wall time to run.json, in all and per stage (`stages`: name -> seconds, in
        the order they ran): the report says how long the study took, which the compute summed over
        parallel GANs and trials does not tell, and bench/plan_estimate.py holds `study plan`'s
        estimate against the stages."""
        record = self.run_record()
        record["runs"] = [*record.get("runs", []), {"started_at": round(started_at, 3),
                                                     "wall_seconds": round(wall_seconds, 3), "resume": resume,
                                                     "stage_seconds": {k: round(v, 3) for k, v in stages.items()}}]
        self.store.write_text(json.dumps(record, indent=2) + "\n", RUN_FILE)

    @property
    def storage_root(self) -> str:
        return storage_root_of(self.store)

    def recorded_cache(self) -> str | None:
        """The GAN cache an earlier run of this study used, if any, as an absolute path or URI (run.json
        keeps one under the storage root relative to it: it moved with the root)."""
        return cache_from_record(self.run_record().get("gan_cache"), self.storage_root)

    def prepare(self, spec, *, resume: bool, gan_cache: str) -> None:
        """Write spec.toml (once, or the extended spec of `resume --set`), run.json and env.json."""
        text = self.check(spec, resume=resume)
        if not self.store.exists(SPEC_FILE) or self.store.read_text(SPEC_FILE) != text:
            self.store.write_text(text, SPEC_FILE)
        # The spec as this run resolved it: `study resume` compares spec.toml with it, so an edited
        # spec.toml is refused with the difference instead of silently changing the study.
        runs = self.run_record().get("runs", [])
        recorded = cache_for_record(gan_cache, self.storage_root)
        self.store.write_text(json.dumps({"gan_cache": recorded, "spec": spec_to_dict(spec), "runs": runs},
                                         indent=2) + "\n", RUN_FILE)
        self.store.write_text(json.dumps(environment_info(), indent=2, sort_keys=True) + "\n", "env.json")


def spec_differences(before: dict, after: dict) -> list[str]:
    """`gan.epochs: 25 -> 30` for every key whose value differs (absent keys shown as `-`)."""
    a, b = flat_keys(before), flat_keys(after)
    return [f"{key}: {json.dumps(a.get(key, '-'))} -> {json.dumps(b.get(key, '-'))}"
            for key in sorted(set(a) | set(b)) if a.get(key, "-") != b.get(key, "-")]


def split_study_dir(path: str) -> tuple[str, str]:
    """'studies/quick' -> ('studies', 'quick'); works for URIs too, whose filesystem options
    ('s3://b/runs/quick?endpoint_override=h:9000' -> ('s3://b/runs?endpoint_override=h:9000', 'quick'))
    stay with the storage."""
    path, options = (path.split("?", 1) + [""])[:2] if is_uri(path) else (path, "")
    query = f"?{options}" if options else ""
    trimmed = path.rstrip("/")
    if "/" not in trimmed:
        return "." + query, trimmed
    parent, name = trimmed.rsplit("/", 1)
    return (parent or "/") + query, name
