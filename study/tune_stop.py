"""The Tune Stopper every Tune run of a study gets: it ends the run once the study is stopping.

A first Ctrl-C or SIGTERM inside a Tune run goes to Tune's own clean stop (study.interrupts), but
Tune installs that handler only once its run loop starts. A signal in the moment between the stage's
start and that point (the Tuner being built, the experiment being set up) has no Tune handler to go
to; raising KeyboardInterrupt there was once swallowed inside Tune's set-up and every trial of the
stage ran (seen in tests/test_interrupts.py). With this stopper the signal only marks the study as
stopping, and Tune ends the run at the first step of its loop: running trials are stopped, no new
one starts. A module-level class, so that the RunConfig it sits in pickles (tuner.pkl)."""

from __future__ import annotations

from ray.tune import Stopper

from study import interrupts


class StopWhenInterrupted(Stopper):
    def __call__(self, trial_id: str, result: dict) -> bool:
        return False   # a trial's own results never stop it; stop_all ends the whole run

    def stop_all(self) -> bool:
        return interrupts.requested()
