"""The classifier training engine: learning, determinism, callbacks, metrics, divergence."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trainables.classifier import fit
from trainables.classifier.models import CLASSIFIERS
from trainables.data.images import ImageSet, concat

NUM_CLASSES = 4


def stripes(n: int, seed: int, channels: int = 1, side: int = 16) -> ImageSet:
    """Class k = bright horizontal band k of 4, on noise: separable, and flip/crop-invariant."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % NUM_CLASSES
    images = torch.randint(0, 80, (n, channels, side, side), generator=gen)
    band = side // NUM_CLASSES
    for k in range(NUM_CLASSES):
        images[labels == k, :, k * band:(k + 1) * band, :] += 170
    return ImageSet(images.clamp(0, 255).to(torch.uint8), labels, tuple(f"c{k}" for k in range(NUM_CLASSES)))


@pytest.fixture(scope="module")
def splits():
    return stripes(200, seed=0), stripes(80, seed=1)


def _mlp(seed: int, channels: int = 1, side: int = 16) -> nn.Module:
    with fit.seeded(seed):
        return CLASSIFIERS["mlp"](channels, side, side, NUM_CLASSES)


def _train(model, train, test, **overrides):
    kwargs = {"epochs": 3, "batch_size": 32, "lr": 1e-2, "seed": 0} | overrides
    return fit.train_classifier(model, train, test, **kwargs)


def test_learns_a_separable_task_and_reports_every_epoch(splits):
    train, test = splits
    calls = []
    result = _train(_mlp(0), train, test, epochs=4, on_epoch=lambda e, m: calls.append((e, m)))
    assert result.test_acc >= 0.95
    assert result.test_acc_max >= result.test_acc
    assert result.test_acc_max == max(m["test_acc"] for m in result.epochs)
    assert [e for e, _ in calls] == [1, 2, 3, 4]
    assert [m for _, m in calls] == result.epochs
    assert set(calls[0][1]) == {"epoch", "val_acc", "val_loss", "test_acc", "test_loss", "train_loss"}
    assert result.epochs[-1]["train_loss"] < result.epochs[0]["train_loss"]
    assert len(result.per_class_acc) == NUM_CLASSES
    assert result.train_seconds > 0 and result.images_per_second > 0


def test_final_metrics_match_the_confusion_of_the_trained_model(splits):
    train, test = splits
    model = _mlp(3)
    result = _train(model, train, test, epochs=1, lr=1e-3)
    predictions = fit.predict(model, test.images).argmax(1)
    expected = fit.metrics_from_confusion(fit.confusion_matrix(test.labels, predictions, NUM_CLASSES))
    assert result.test_acc == pytest.approx(expected["accuracy"])
    assert result.precision == pytest.approx(expected["precision"])
    assert result.recall == pytest.approx(expected["recall"])
    assert result.f1 == pytest.approx(expected["f1"])
    assert result.per_class_acc == pytest.approx(expected["per_class_acc"])


def test_conv_net_with_classic_augmentation_learns(splits):
    train = stripes(200, seed=0, channels=3)
    test = stripes(80, seed=1, channels=3)
    with fit.seeded(0):
        model = CLASSIFIERS["cnn2"](3, 16, 16, NUM_CLASSES)
    result = _train(model, train, test, epochs=3, lr=3e-3, augment="classic", hflip=True)
    assert result.test_acc >= 0.9


def test_same_seed_same_result_and_rng_left_alone(splits):
    train, test = splits
    outer_state = torch.get_rng_state()
    runs = []
    for _ in range(2):
        model = _mlp(5)
        result = _train(model, train, test, seed=5, epochs=2, augment="classic")
        runs.append((result.epochs, model.state_dict()))
    assert torch.equal(torch.get_rng_state(), outer_state)
    assert runs[0][0] == runs[1][0]
    for key, value in runs[0][1].items():
        assert torch.equal(value, runs[1][1][key]), key

    other = _mlp(6)
    _train(other, train, test, seed=6, epochs=2, augment="classic")
    assert not torch.equal(other.state_dict()["1.weight"], runs[0][1]["1.weight"])


def test_metrics_from_a_hand_made_confusion():
    # rows = true class, columns = predicted class
    confusion = torch.tensor([[2, 1, 0], [0, 3, 0], [1, 0, 1]])
    m = fit.metrics_from_confusion(confusion)
    # recall 2/3, 1, 1/2; precision 2/3, 3/4, 1; F1 2/3, 6/7, 2/3
    assert m["per_class_acc"] == pytest.approx([2 / 3, 1.0, 0.5])
    assert m["recall"] == pytest.approx((2 / 3 + 1 + 0.5) / 3)
    assert m["precision"] == pytest.approx((2 / 3 + 0.75 + 1) / 3)
    assert m["f1"] == pytest.approx((2 / 3 + 6 / 7 + 2 / 3) / 3)
    assert m["accuracy"] == pytest.approx(6 / 8)

    # a class that is never predicted counts as precision 0 and F1 0 (sklearn's zero_division=0)
    never = fit.metrics_from_confusion(torch.tensor([[1, 0], [1, 0]]))
    assert never["precision"] == pytest.approx(0.25)
    assert never["recall"] == pytest.approx(0.5)
    assert never["f1"] == pytest.approx((2 / 3 + 0) / 2)


def test_confusion_matrix_counts():
    labels = torch.tensor([0, 0, 1, 2, 2])
    predictions = torch.tensor([0, 1, 1, 2, 0])
    expected = torch.tensor([[1, 1, 0], [0, 1, 0], [1, 0, 1]])
    assert torch.equal(fit.confusion_matrix(labels, predictions, 3), expected)


def test_huge_learning_rate_diverges(splits):
    train, test = splits
    with pytest.raises(fit.TrainingDiverged) as info:
        _train(_mlp(0), train, test, lr=1e30)
    assert info.value.epoch == 1
    assert "loss" in str(info.value)


class _NaNHead(nn.Module):
    def forward(self, x):
        return x * float("nan")


def test_model_producing_nan_diverges(splits):
    train, test = splits
    model = nn.Sequential(_mlp(0), _NaNHead())
    with pytest.raises(fit.TrainingDiverged, match="epoch 1"):
        _train(model, train, test)


def test_on_epoch_exception_stops_training(splits):
    train, test = splits
    seen = []

    def stop_after_two(epoch, metrics):
        seen.append(epoch)
        if epoch == 2:
            raise KeyboardInterrupt("stop")

    with pytest.raises(KeyboardInterrupt):
        _train(_mlp(0), train, test, epochs=5, on_epoch=stop_after_two)
    assert seen == [1, 2]


def test_predict_returns_cpu_logits_and_keeps_mode(splits):
    _, test = splits
    model = _mlp(0).train()
    logits = fit.predict(model, test.images, batch_size=32)
    assert logits.shape == (len(test), NUM_CLASSES) and logits.dtype == torch.float32
    assert logits.device.type == "cpu"
    assert model.training
    # eval mode: the same images give the same logits whatever the batch size
    torch.testing.assert_close(fit.predict(model, test.images, batch_size=7), logits)


def test_batch_of_one_left_over_does_not_break_batchnorm(splits):
    train, test = splits
    odd = train.select(torch.arange(33))  # 33 = 32 + 1: the lone last image is dropped
    result = _train(_mlp(0), odd, test, epochs=1)
    assert result.images_per_second > 0


@pytest.mark.parametrize(
    "overrides,match",
    [({"augment": "fancy"}, "augment"), ({"epochs": 0}, "epochs"), ({"batch_size": 0}, "batch_size"),
     ({"lr": 0}, "lr")],
)
def test_bad_arguments_are_clear_errors(splits, overrides, match):
    train, test = splits
    with pytest.raises(ValueError, match=match):
        _train(_mlp(0), train, test, **overrides)


# ---------------------------------------------------------------- validation and schedules

def _thirds(train):
    index = torch.arange(len(train))
    return train.select(index[index % 3 != 0]), train.select(index[index % 3 == 0])


def test_the_selected_epoch_is_chosen_on_validation_never_on_test(splits):
    train, test = splits
    train, validation = _thirds(train)
    result = _train(_mlp(0), train, test, epochs=5, validation=validation)
    vals = [m["val_acc"] for m in result.epochs]
    best = vals.index(max(vals)) + 1            # the first epoch with the best validation accuracy
    assert result.best_val_epoch == best and result.val_acc_max == max(vals)
    assert result.test_acc_at_best_val == result.epochs[best - 1]["test_acc"]
    assert result.test_acc_max == max(m["test_acc"] for m in result.epochs)


def test_without_validation_there_is_no_selected_epoch(splits):
    train, test = splits
    result = _train(_mlp(0), train, test, epochs=2)
    assert result.best_val_epoch is None and math.isnan(result.val_acc_max)
    assert math.isnan(result.test_acc_at_best_val)
    assert all(math.isnan(m["val_acc"]) for m in result.epochs)


def test_the_steps_schedule_gives_every_training_set_the_same_updates(splits):
    train, test = splits
    small = train.select(torch.arange(64))
    big = concat(small, train.select(torch.arange(64, 192)))   # 3x the images: R = 2
    schedule = fit.schedule_for("steps", epochs=3, patience=1, real_images=len(small), batch_size=32)
    on_small = _train(_mlp(0), small, test, schedule=schedule)
    on_big = _train(_mlp(0), big, test, schedule=schedule)
    assert on_small.train_steps == on_big.train_steps == 3 * 2
    by_epochs = _train(_mlp(0), big, test, epochs=3)
    assert by_epochs.train_steps == 3 * 6    # the papers' protocol: R x n more images, more updates


def test_early_stopping_stops_after_patience_periods_without_a_better_validation_accuracy(splits):
    train, test = splits
    train, validation = _thirds(train)
    schedule = fit.schedule_for("early-stop", epochs=40, patience=2, real_images=len(train), batch_size=32)
    result = _train(_mlp(0), train, test, validation=validation, schedule=schedule)
    epochs = len(result.epochs)
    assert result.stopped_early and epochs < 40
    assert epochs - result.best_val_epoch == 2
    assert max(m["val_acc"] for m in result.epochs[result.best_val_epoch:]) <= result.val_acc_max


def test_an_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="unknown schedule"):
        fit.schedule_for("forever", 3, 1, 100, 32)
