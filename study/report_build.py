"""The report of one study folder: results.csv and curves.csv restored from the trial records where a
stopped run left none, then the analysis package's report/ (on a local copy for remote storage).

Torch-free, like the analysis it calls: `study report` reads files and trains nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path

from study.disk_space import failures_name_a_full_disk
from study.folder import StudyFolder
from study.results import restore_results
from trainables.files.storage import Store


def build_report(folder: StudyFolder) -> str | None:
    """Build report/ with the analysis package (which reads files only), after writing results.csv and
    curves.csv again from the trial records where a stopped run left none or a damaged copy."""
    from analysis import build_report as analysis_report

    with failures_name_a_full_disk([folder.root, tempfile.gettempdir()], folder.root):
        restore_results(folder)
        return _build_report(folder, analysis_report)


def _build_report(folder: StudyFolder, analysis_report) -> str | None:
    if folder.store.is_local:
        return str(analysis_report(folder.store.local_path()))
    # Remote storage (s3://, gs://, ...): the analysis reads files, so it works on a local copy of what
    # it needs (not the checkpoints or pools), and the report goes back next to the results.
    with tempfile.TemporaryDirectory(prefix="study-report-") as local:
        for name in folder.store.listdir():
            if name not in ("report", "tune"):   # Tune's experiments: the report reads results.csv instead
                _copy_down(folder.store, name, Path(local))
        analysis_report(local)
        folder.store.upload(Path(local, "report"), "report")
    return folder.store.uri("report", "report.md")


def _report_needs(parts: tuple[str, ...]) -> bool:
    """GAN checkpoints and pools are large and the analysis never reads them."""
    return not (len(parts) == 3 and parts[0] == "gans" and (parts[2].startswith("checkpoint") or parts[2] == "pool.pt"))


def _copy_down(store: Store, name: str, local: Path, *parents: str) -> None:
    """One entry of the study folder (file or folder, recursively) into `local`, minus what the
    report does not need."""
    parts = (*parents, name)
    if not _report_needs(parts):
        return
    if store.is_dir(*parts):
        for child in store.listdir(*parts):
            _copy_down(store, child, local, *parts)
    else:
        target = local.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.read_bytes(*parts))
