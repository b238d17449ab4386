"""Whether every size of a study can be drawn from the training split left after the validation
hold-out: the one rule, checked from the registry's class counts before any data is loaded (study.spec)
and from the loaded split (study.preflight)."""

from __future__ import annotations

from collections.abc import Sequence

from study.checks import FULL, SpecError
from study.schema import Spec


def check_sizes_fit(spec: Spec, train_per_class: Sequence[int], classes: Sequence[str] = (),
                    held_out: int = 0) -> None:
    """Every size drawable from the training split after the validation hold-out, class-balanced or
    stratified: the one rule, checked from the registry's class counts before any data is loaded
    (study.spec, which passes the `held_out` count so a size the hold-out alone pushes out names
    eval.validation) and from the loaded split (check_loaded_data)."""
    if spec.sampling == "stratified":
        check_stratified_sizes(spec, train_per_class, classes)
        return
    room = min(train_per_class) * len(train_per_class)
    largest = max((s for s in spec.sizes if s != FULL), default=0)
    if largest <= room:
        return
    classes_count = len(train_per_class)
    before = min(train_per_class) + -(-held_out // classes_count)   # per class, before the hold-out
    if held_out and largest <= before * classes_count:
        fits = (before - -(-largest // classes_count)) * classes_count   # the largest hold-out that leaves room
        raise SpecError("eval.validation", f"holding out {held_out} validation images leaves {room} "
                        f"class-balanced training images in {spec.dataset}, fewer than the requested size "
                        f"{largest}", f"at most {fits} (or smaller sizes)")
    raise SpecError("sizes", f"{largest} is more than {spec.dataset} has after the validation split ({room} "
                    f"class-balanced training images: {min(train_per_class)} in its smallest class)",
                    f'at most {room}, a smaller eval.validation, or sampling = "stratified"')


def check_stratified_sizes(spec: Spec, train_per_class: Sequence[int], classes: Sequence[str] = ()) -> None:
    """sampling = "stratified": every size drawable in the training split's class proportions, and at
    every size each class gets the images a subset needs (one; two, with a validation image, under
    eval.validation_from = "subset"), checked before anything runs, naming the class and the size."""
    from trainables.data.sampling import stratified_quota
    from trainables.terms.validation import per_class

    total = sum(train_per_class)
    sizes = [s for s in spec.sizes if s != FULL]
    if sizes and max(sizes) > total:
        raise SpecError("sizes", f"{max(sizes)} is more than {spec.dataset} has after the validation split ({total} "
                        "training images)", f"at most {total}, or a smaller eval.validation")
    carve = spec.eval.validation_from == "subset"
    for size in sorted(set(sizes)):
        quota = stratified_quota(list(train_per_class), size)
        for label, (take, have) in enumerate(zip(quota, train_per_class, strict=True)):
            name = classes[label] if label < len(classes) else str(label)
            short = take < 1 or (carve and (take < 2 or per_class(take, spec.eval.validation_fraction) < 1))
            if short:
                need = "2 images and a validation image" if carve else "1 image"
                raise SpecError("sizes", f"{size} drawn stratified gives class {name!r} ({have} training images) {take} "
                                f"image(s); a subset needs {need} of every class", "larger sizes, "
                                'sampling = "balanced", or more images of that class')
