"""The study file: defaults, presets, validation errors, --set overrides, TOML round trip, grid points."""

from __future__ import annotations

import pytest

from study.checks import SpecError
from study.presets import list_presets, preset_names, preset_text
from study.schema import ClassifierSpec, GanSpec, MixSpec, SearchSpec, Spec
from study.spec import load_spec, loads_spec, spec_from_dict
from study.spec_text import parse_override, spec_to_dict, spec_to_toml


def spec_of(text: str = "", *overrides: str, registries: bool = False) -> Spec:
    return loads_spec(text, list(overrides), check_registries=registries)


def error_of(text: str = "", *overrides: str, registries: bool = False) -> SpecError:
    with pytest.raises(SpecError) as info:
        spec_of(text, *overrides, registries=registries)
    return info.value


def assert_one_line(error: SpecError, key: str) -> None:
    message = str(error)
    assert error.key == key
    assert message == f"{key}: {error.problem}; allowed: {error.allowed}"
    assert "\n" not in message
    assert error.problem and error.allowed
    assert isinstance(error, ValueError)


# ---------------------------------------------------------------- defaults


def test_empty_file_gives_the_documented_defaults():
    spec = spec_of("")
    assert spec == Spec()
    assert spec.name == "study"
    assert spec.dataset == "mnist-5k"          # offline default
    assert spec.sizes == (500, 1000)
    assert spec.seeds == 2
    assert spec.gan == GanSpec(arch="abadi", conditioning="per-class", alpha=(1.0,), epochs=30,
                               batch_size=64, lr=2e-4, beta1=0.5, repeats="per-seed", workers=1,
                               checkpoint_every=10)
    assert spec.classifier == ClassifierSpec(name=("mlp",), epochs=15, batch_size=64, lr=1e-3,
                                             schedule="early-stop", patience=5, compile=False)
    assert spec.mix == MixSpec(ratios=(0.0, 0.5, 1.0, 2.0), real=True, augment="none")
    assert spec.eval.validation == "auto" and spec.eval.metric == "test_acc_at_best_val"
    assert spec.search.mode == "grid" and spec.search.metric == "val_acc_max"   # never a test metric
    assert spec.search.ratio_range is None and spec.search.max_concurrent == 0
    assert spec.resources.cpus_per_trial == 1.0 and spec.resources.gpus_per_trial == 0.0
    assert spec.max_failures == spec.faults.max_failures == 1


def test_spec_is_frozen():
    spec = Spec()
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        spec.gan.epochs = 1  # type: ignore[misc]


def test_defaults_pass_the_registry_checks():
    assert spec_of("", registries=True) == Spec()


def test_a_partial_section_keeps_the_other_defaults():
    spec = spec_of("[gan]\nepochs = 7\n")
    assert spec.gan.epochs == 7
    assert spec.gan.batch_size == GanSpec().batch_size
    assert spec.classifier == ClassifierSpec()


# ---------------------------------------------------------------- presets


EXPECTED_PRESETS = {"quick", "quick-paper", "abadi-mnist", "abadi-mnist-synthetic", "abadi-cifar10", "xing-cifar10",
                    "hooda-cifar10", "dagan-cifar10", "dagan-svhn", "fashion-full", "optuna-mnist"}


def test_all_expected_presets_are_bundled():
    assert EXPECTED_PRESETS <= set(preset_names())


@pytest.mark.parametrize("name", sorted(EXPECTED_PRESETS))
def test_preset_loads_validates_and_documents_itself(name):
    spec = load_spec(name)
    assert spec.name == name
    text = preset_text(name)
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert len(header) >= 3, "a preset starts with a comment block saying what it reproduces"
    assert "Reproduces:" in text and "Needs:" in text


def test_list_presets_gives_the_first_comment_line():
    described = dict(list_presets())
    assert set(described) == set(preset_names())
    for name, description in described.items():
        assert description and "\n" not in description
        assert preset_text(name).splitlines()[0] == f"# {description}"


def test_papers_settings_in_presets():
    abadi = load_spec("abadi-mnist", check_registries=False)
    assert abadi.gan.epochs == 2000 and abadi.gan.lr == 1e-3 and abadi.gan.batch_size == 64
    assert abadi.gan.alpha == (2.0,) and abadi.classifier.epochs == 15
    # Abadi's 3 classifier repeats inside a nested design: 3 GANs per size x 3 repeats, so a general claim is possible
    assert (abadi.seeds, abadi.gan.repeats) == (9, 3)
    exact = load_spec("abadi-mnist", ["gan.repeats=once", "seeds=3"], check_registries=False)   # as the comment says
    assert (exact.seeds, exact.gan.repeats) == (3, "once")
    assert abadi.sizes == (500, 1000, 2000, 4000, "full")
    assert abadi.mix.ratios == (0, 0.25, 0.5, 0.75, 1, 2, 4)
    synthetic = load_spec("abadi-mnist-synthetic", check_registries=False)
    assert not synthetic.mix.real and synthetic.gan.alpha == (1.0, 2.0, 4.0)
    cifar = load_spec("abadi-cifar10", check_registries=False)
    assert cifar.gan.epochs == 3000 and cifar.mix.ratios == (0, 0.01, 0.025, 0.05, 0.075, 0.1)
    xing = load_spec("xing-cifar10", check_registries=False)
    assert xing.mix.ratios == (0, 0.64) and xing.gan.epochs == 50 and xing.sizes == ("full",)
    assert xing.classifier.name == ("lenet", "alexnet", "inception")
    assert load_spec("hooda-cifar10", check_registries=False).gan.epochs == 120
    assert load_spec("dagan-cifar10", check_registries=False).sizes == (500, 1000, 2000, 5000, 10000)
    assert load_spec("dagan-svhn", check_registries=False).sizes == (500, 800, 1000, 2000, 5000)
    optuna = load_spec("optuna-mnist", check_registries=False)
    assert optuna.search.mode == "optuna" and optuna.search.trials == 20


def test_unknown_preset_suggests_the_closest():
    error = error_of_load("quik")
    assert_one_line(error, "quik")
    assert "'quick'" in error.problem and "study presets" in error.allowed
    with pytest.raises(SpecError) as info:
        preset_text("abadi-mnst")
    assert "abadi-mnist" in str(info.value)


def error_of_load(path_or_preset, overrides=()) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec(path_or_preset, overrides, check_registries=False)
    return info.value


# ---------------------------------------------------------------- scalars where lists are expected


def test_scalars_become_one_element_lists():
    spec = spec_of('sizes = "full"\n[gan]\nalpha = 2\n[classifier]\nname = "mlp"\n[mix]\nratios = 1\n')
    assert spec.gan.alpha == (2.0,)
    assert spec.classifier.name == ("mlp",)
    assert spec.sizes == ("full",)
    assert spec.mix.ratios == (1.0,)
    assert isinstance(spec.gan.alpha[0], float)


def test_integers_are_accepted_for_float_keys():
    spec = spec_of("[gan]\nlr = 1\n[resources]\ncpus_per_trial = 2\n")
    assert spec.gan.lr == 1.0 and isinstance(spec.gan.lr, float)
    assert spec.resources.cpus_per_trial == 2.0


# ---------------------------------------------------------------- errors

ERROR_CASES = [
    # (study file text, key named in the error)
    ("nmae = 'x'", "nmae"),
    ("[gann]\nepochs = 1", "gann"),
    ("[gan]\nepoch = 1", "gan.epoch"),
    ("[classifier]\nlearning_rate = 0.1", "classifier.learning_rate"),
    ("gan = 3", "gan"),
    ("seeds = true", "seeds"),
    ("seeds = 0", "seeds"),
    ("seeds = 1.5", "seeds"),
    ("name = 3", "name"),
    ("name = ''", "name"),
    ("name = '../escape'", "name"),
    ("sizes = []", "sizes"),
    ("sizes = [0]", "sizes"),
    ("sizes = ['all']", "sizes"),
    ("sizes = [true]", "sizes"),
    ("sizes = [500, 500]", "sizes"),
    ("[gan]\nalpha = 0", "gan.alpha"),
    ("[gan]\nalpha = [1, -2]", "gan.alpha"),
    ("[gan]\nalpha = nan", "gan.alpha"),
    ("[gan]\nepochs = 0", "gan.epochs"),
    ("[gan]\nepochs = true", "gan.epochs"),
    ("[gan]\nbatch_size = 0", "gan.batch_size"),
    ("[gan]\nlr = 0", "gan.lr"),
    ("[gan]\nlr = true", "gan.lr"),
    ("[gan]\nlr = '1e-3'", "gan.lr"),
    ("[gan]\nbeta1 = 1", "gan.beta1"),
    ("[gan]\nworkers = 0", "gan.workers"),
    ("[gan]\ncheckpoint_every = 0", "gan.checkpoint_every"),
    ("[gan]\nconditioning = 'per_class'", "gan.conditioning"),
    ("[classifier]\nepochs = 0", "classifier.epochs"),
    ("[classifier]\nbatch_size = -1", "classifier.batch_size"),
    ("[classifier]\nlr = -0.1", "classifier.lr"),
    ("[classifier]\ncompile = 'yes'", "classifier.compile"),
    ("[classifier]\nname = []", "classifier.name"),
    ("[mix]\nratios = [-0.5]", "mix.ratios"),
    ("[mix]\nratios = [1, 1.0]", "mix.ratios"),
    ("[mix]\nreal = 1", "mix.real"),
    ("[mix]\naugment = 'flip'", "mix.augment"),
    ("[mix]\nreal = false\nratios = [0]", "mix.ratios"),
    ("[search]\nmode = 'random'", "search.mode"),
    ("[search]\nmetric = 'accuracy'", "search.metric"),
    ("[search]\ntrials = 0", "search.trials"),
    ("[search]\nmax_concurrent = -1", "search.max_concurrent"),
    ("[search]\nratio_range = [2, 1]", "search.ratio_range"),
    ("[search]\nratio_range = [1]", "search.ratio_range"),
    ("[search]\nmode = 'optuna'\nratio_range = [0, 2]\n[mix]\nreal = false\nratios = [1]",
     "search.ratio_range"),
    ("[resources]\ncpus_per_trial = 0", "resources.cpus_per_trial"),
    ("[resources]\ngpus_per_trial = -0.5", "resources.gpus_per_trial"),
    ("[resources]\ngpus_per_trial = false", "resources.gpus_per_trial"),
    ("[faults]\nmax_failures = -1", "faults.max_failures"),
]


@pytest.mark.parametrize(("text", "key"), ERROR_CASES)
def test_invalid_values_raise_a_one_line_spec_error_naming_the_key(text, key):
    assert_one_line(error_of(text), key)


def test_unknown_key_suggests_the_closest_and_lists_the_valid_ones():
    error = error_of("[gan]\nepoch = 1")
    assert "did you mean 'epochs'" in error.problem
    assert "checkpoint_every" in error.allowed
    assert "did you mean 'gan'" in error_of("[gann]\nepochs = 1").problem


def test_bool_is_not_an_int():
    assert "boolean" in error_of("seeds = true").problem


def test_choice_errors_list_the_choices():
    assert error_of("[search]\nmode = 'random'").allowed == "grid | optuna"
    assert error_of("[mix]\naugment = 'flip'").allowed == "none | classic"
    assert error_of("[search]\nmetric = 'acc'").allowed == "val_acc_max | val_acc"   # validation only
    assert error_of("[gan]\nconditioning = 'x'").allowed == "per-class | conditional"


REGISTRY_ERROR_CASES = [
    ("dataset = 'mnst'", "dataset", "'mnist'"),
    ("dataset = 'folder:/no/such/dir'", "dataset", "does not exist"),
    ("[gan]\narch = 'dcgann'", "gan.arch", "'dcgan'"),
    ("[gan]\narch = 'dagan'\nconditioning = 'per-class'", "gan.conditioning", "dagan"),
    ("[classifier]\nname = ['mlp', 'resnet']", "classifier.name", "'resnet18'"),
    ("sizes = [5]", "sizes", "fewer than one image per class"),          # mnist-5k has 10 classes
    ("sizes = [500, 100000]", "sizes", "more than"),
    ("dataset = 'cifar10'\nsizes = [60000]", "sizes", "more than"),
]


@pytest.mark.parametrize(("text", "key", "fragment"), REGISTRY_ERROR_CASES)
def test_registry_and_dataset_errors(text, key, fragment):
    error = error_of(text, registries=True)
    assert_one_line(error, key)
    assert fragment in error.problem


def test_registry_errors_list_the_registry_keys():
    from trainables import CLASSIFIERS, DATASETS, GANS

    assert set(error_of("[gan]\narch = 'x'", registries=True).allowed.split(" | ")) == set(GANS)
    assert set(error_of("[classifier]\nname = 'x'", registries=True).allowed.split(" | ")) == set(CLASSIFIERS)
    assert set(DATASETS) <= set(error_of("dataset = 'x'", registries=True).allowed.split(" | "))


def test_the_names_checked_without_torch_are_the_ones_the_torch_code_runs():
    """The study file is checked against torch-free names (trainables.terms): each is what the registry,
    the losses and DiffAugment that train it hold, and the datasets' readers cover the catalog."""
    from trainables.classifier.models import CLASSIFIERS
    from trainables.data.catalog import DATASETS
    from trainables.data.datasets import LOADERS
    from trainables.gan.archs import GANS
    from trainables.gan.augment import POLICIES
    from trainables.gan.losses import LOSSES
    from trainables.terms import gan_options
    from trainables.terms.choices import CONDITIONAL_ONLY_ARCHS

    assert {name for name, arch in GANS.items() if arch.conditional_only} == CONDITIONAL_ONLY_ARCHS
    assert set(POLICIES) == set(gan_options.DIFFAUGMENT_POLICIES) and set(gan_options.CHOSEN_LOSSES) < set(LOSSES)
    assert set(CLASSIFIERS) and set(LOADERS) == set(DATASETS)


def test_a_refused_study_file_is_refused_without_importing_torch(tmp_path):
    """`study run` refuses a study file in a fraction of a second: no check of it imports torch (a user's
    folder is scanned from its headers), so neither does the refusal."""
    import subprocess
    import sys

    from PIL import Image

    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.new("RGB", (8, 8), color=(i * 40, 0, 0)).save(tmp_path / label / f"{i}.png")
    cases = [["--set", "classifier.name=['vgg']"], ["--set", "gan.arch='stylegan'"], ["--set", "gan.loss='hinge'",
             "--set", "gan.arch='dagan'", "--set", "gan.conditioning='conditional'"], ["--set", "sizes=[999999]"],
             ["--set", "gan.diffaugment='color'"], ["--set", f"dataset='folder:{tmp_path}'", "--set", "sizes=[1]"]]
    script = ("import sys\nfrom study import cli\n"
              f"codes = [cli.main(['run', 'quick', '--storage', {str(tmp_path / 'out')!r}, *case]) for case in {cases!r}]\n"
              "print(codes, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == f"{[2] * len(cases)} False", done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == len(cases), done.stderr   # one line each


def test_dagan_conditional_and_full_size_are_valid():
    spec = spec_of("sizes = ['full', 3600]\n[gan]\narch = 'dagan'\nconditioning = 'conditional'",
                   registries=True)
    assert spec.gan.arch == "dagan" and spec.sizes == ("full", 3600)


def test_a_validation_split_that_leaves_too_few_images_for_a_size_is_refused():
    error = error_of("sizes = [3700]", registries=True)   # mnist-5k: 4000, minus the 400 held out
    assert_one_line(error, "eval.validation")
    assert "3600" in error.problem and "at most 300" in error.allowed
    assert spec_of("sizes = [3700]\n[eval]\nvalidation = 300", registries=True).sizes == (3700,)


def test_folder_dataset_is_accepted_when_it_is_a_directory(tmp_path):
    from PIL import Image

    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.new("RGB", (8, 8), color=(i * 40, 0, 0)).save(tmp_path / label / f"{i}.png")
    spec = spec_of(f"dataset = 'folder:{tmp_path}'\nsizes = [2, 4]", registries=True)
    assert spec.dataset == f"folder:{tmp_path}"
    assert_one_line(error_of(f"dataset = 'folder:{tmp_path}'\nsizes = [1]", registries=True), "sizes")
    (tmp_path / "file.txt").write_text("x")
    assert_one_line(error_of(f"dataset = 'folder:{tmp_path / 'file.txt'}'", registries=True), "dataset")


def test_registry_checks_can_be_skipped_for_stored_specs():
    # A run's spec.toml is read back by `study report` without importing torch.
    assert spec_of("[gan]\narch = 'not-checked'").gan.arch == "not-checked"


# ---------------------------------------------------------------- files


def test_malformed_toml_names_the_file_and_the_position(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\n[gan\nepochs = 3\n')
    error = error_of_load(str(path))
    assert_one_line(error, str(path))
    assert "invalid TOML" in error.problem and "line 2" in error.problem


def test_missing_file_suggests_study_presets(tmp_path):
    path = str(tmp_path / "nope.toml")
    error = error_of_load(path)
    assert_one_line(error, path)
    assert "study presets" in error.allowed and "quick" in error.allowed


def test_load_spec_reads_a_file_and_applies_overrides(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\n[gan]\nepochs = 3\n')
    spec = load_spec(path, ["classifier.epochs=2"], check_registries=False)
    assert (spec.name, spec.gan.epochs, spec.classifier.epochs) == ("mine", 3, 2)


def test_a_byte_order_mark_is_not_part_of_the_toml_and_a_binary_file_is_refused(tmp_path):
    bom = tmp_path / "windows.toml"
    bom.write_bytes(b"\xef\xbb\xbfname = \"mine\"\n")
    assert load_spec(bom, check_registries=False).name == "mine"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(SpecError, match="is not UTF-8 text"):
        load_spec(binary, check_registries=False)


def test_a_name_from_outside_the_spec_cannot_leave_the_storage():
    from study.schema import checked_name

    assert checked_name("my-study.v2") == "my-study.v2"
    for bad in ("../escaped", "a/b", ".hidden", ""):
        with pytest.raises(SpecError, match="--name"):
            checked_name(bad)


# ---------------------------------------------------------------- --set


def test_override_nested_key_with_typed_value():
    spec = load_spec("quick", ["gan.epochs=5", "gan.alpha=[1, 2]", "mix.real=false", "mix.ratios=[1, 4]",
                               "search.mode=optuna", "resources.gpus_per_trial=0.25"],
                     check_registries=False)
    assert spec.gan.epochs == 5
    assert spec.gan.alpha == (1.0, 2.0)
    assert spec.mix.real is False and spec.mix.ratios == (1.0, 4.0)
    assert spec.search.mode == "optuna"
    assert spec.resources.gpus_per_trial == 0.25


def test_override_top_level_keys_with_bare_and_quoted_strings():
    spec = load_spec("quick", ["dataset=mnist", 'name="renamed"', 'sizes=[500, "full"]', "seeds=1"],
                     check_registries=False)
    assert (spec.dataset, spec.name, spec.sizes, spec.seeds) == ("mnist", "renamed", (500, "full"), 1)
    assert load_spec("quick", ["dataset=folder:/data/x y"], check_registries=False).dataset == "folder:/data/x y"


def test_override_parsing():
    assert parse_override("gan.lr=1e-4") == (["gan", "lr"], 1e-4)
    assert parse_override("mix.augment=classic") == (["mix", "augment"], "classic")
    assert parse_override("search.ratio_range=[0, 2.5]") == (["search", "ratio_range"], [0, 2.5])
    assert parse_override("classifier.compile=true") == (["classifier", "compile"], True)


def test_override_adds_a_section_missing_from_the_file():
    assert spec_of('name = "x"', "faults.max_failures=3").max_failures == 3


@pytest.mark.parametrize(("override", "key"), [
    ("gan.epoch=5", "gan.epoch"),
    ("gann.epochs=5", "gann.epochs"),
    ("epochs=5", "epochs"),
    ("gan=5", "gan"),
    ("gan.epochs.x=5", "gan.epochs.x"),
    ("name.x=5", "name.x"),
    ("gan.epochs", "gan.epochs"),
    ("=5", "=5"),
    ("gan.epochs=0", "gan.epochs"),
    ("gan.epochs=five", "gan.epochs"),
    ("mix.augment=flip", "mix.augment"),
    ("seeds=true", "seeds"),
])
def test_bad_overrides_raise_spec_errors(override, key):
    assert_one_line(error_of_load("quick", [override]), key)


def test_unknown_override_suggests_the_closest_key():
    assert "did you mean 'epochs'" in error_of_load("quick", ["gan.epoch=5"]).problem


def test_overrides_do_not_change_the_parsed_dict():
    raw = {"gan": {"epochs": 3}}
    from study.spec_text import apply_overrides

    assert apply_overrides(raw, ["gan.epochs=4"]) == {"gan": {"epochs": 4}}
    assert raw == {"gan": {"epochs": 3}}


# ---------------------------------------------------------------- writing a spec back


@pytest.mark.parametrize("name", sorted(EXPECTED_PRESETS))
def test_spec_to_toml_round_trips_every_preset(name):
    spec = load_spec(name, check_registries=False)
    assert spec_of(spec_to_toml(spec)) == spec


def test_spec_to_toml_round_trips_awkward_values():
    spec = spec_of("", 'data_root="C:\\\\data \\"quoted\\" é\\ttab"', "gan.lr=1e-05",
                   "gan.alpha=[0.5, 1, 3.25]", 'sizes=[10, "full"]', "search.ratio_range=[0, 0.1]",
                   "search.mode=optuna", "mix.ratios=[0.1, 1e-3, 12.5]", "classifier.compile=true")
    assert spec.data_root == 'C:\\data "quoted" é\ttab'
    text = spec_to_toml(spec)
    assert spec_of(text) == spec
    assert "ratio_range = [0.0, 0.1]" in text


def test_spec_to_toml_leaves_out_absent_optional_keys():
    assert "ratio_range" not in spec_to_toml(Spec())
    assert spec_of(spec_to_toml(Spec())) == Spec()


def test_spec_to_dict_is_plain_data():
    data = spec_to_dict(load_spec("abadi-mnist", check_registries=False))
    assert data["sizes"] == [500, 1000, 2000, 4000, "full"]
    assert data["gan"]["alpha"] == [2.0]
    assert data["mix"]["real"] == [True, False]
    assert "ratio_range" not in data["search"]
    assert spec_from_dict(data, check_registries=False) == load_spec("abadi-mnist", check_registries=False)


def test_search_spec_defaults_document_optuna_keys():
    search = SearchSpec()
    assert (search.trials, search.seed, search.asha) == (20, 0, False)


def test_loaded_data_is_checked_before_anything_is_written():
    from study.preflight import check_loaded_data

    spec = load_spec("quick", ["sizes=[100, 500]"], check_registries=False)
    check_loaded_data(spec, [50] * 10, 1000)                      # 500 class-balanced: fits exactly
    with pytest.raises(SpecError, match="sizes: 500 is more than .* \\(490 class-balanced training images: 49 in its "
                                        "smallest class\\)"):
        check_loaded_data(spec, [50] * 9 + [49], 1000)
    with pytest.raises(SpecError, match="has no test images"):
        check_loaded_data(spec, [50] * 10, 0)
    with pytest.raises(SpecError, match="eval.validation: the validation split leaves a class"):
        check_loaded_data(spec, [50] * 9 + [0], 1000)


def test_a_gan_that_cannot_take_the_image_shape_is_refused_before_training():
    from study import plan
    from study.preflight import check_models

    spec = load_spec("quick", check_registries=False)
    jobs = plan.gan_jobs(spec, 3600, 10, 400)
    check_models(spec, jobs, (1, 28, 28), 10)
    with pytest.raises(SpecError, match=r"gan.arch: abadi cannot train on mnist-5k's 10x10 images \(abadi: image "
                                        r"sides must be multiples of 4"):
        check_models(spec, jobs, (1, 10, 10), 10)


def test_a_pool_that_cannot_fit_in_memory_is_refused_with_the_estimate():
    from study import plan
    from study.preflight import check_pool_memory

    spec = load_spec("quick", ["mix.ratios=[0, 1000]", "sizes=[1000]"], check_registries=False)
    jobs = plan.gan_jobs(spec, 3600, 10, 400)
    check_pool_memory(spec, jobs, (1, 28, 28), 10, available=2**31)     # 1e6 images x 784 B: 0.73 GiB
    with pytest.raises(SpecError, match=r"mix.ratios: the largest synthetic pool \(1,00\d,\d+ images of 28x28x1, "
                                        r"0.7 GiB\) cannot fit in this machine's 0.5 GiB of free memory"):
        check_pool_memory(spec, jobs, (1, 28, 28), 10, available=2**29)


@pytest.mark.parametrize("overrides, message", [
    (["search.storage='sqlite:///optuna.db'"], r"search.storage: sqlite:///optuna.db is set but search.mode = 'grid'"),
    (["search.mode='optuna'", "search.storage='optuna.db'"], r"search.storage: \"optuna.db\" is not valid; allowed: "
                                                             r"empty, or an Optuna RDB URL"),
])
def test_an_optuna_storage_must_be_an_rdb_url_of_an_optuna_search(overrides, message):
    with pytest.raises(SpecError, match=message):
        load_spec("quick", overrides, check_registries=False)
    assert load_spec("quick", ["search.mode='optuna'", "search.storage='sqlite:///o.db'"],
                     check_registries=False).search.storage == "sqlite:///o.db"


# ---------------------------------------------------------------- units, first_seed, min_effect, objectives


def test_new_keys_default_to_per_seed_units_seed_zero_and_one_point():
    spec = spec_of("")
    assert spec.gan.repeats == "per-seed" and spec.first_seed == 0 and spec.eval.min_effect == 1.0
    assert 'first_seed = 0' in spec_to_toml(spec) and 'min_effect = 1.0' in spec_to_toml(spec)


def test_a_count_of_gans_first_seed_and_min_effect_round_trip_through_toml():
    spec = spec_of("seeds = 6\nfirst_seed = 4\n[gan]\nrepeats = 3\n[eval]\nmin_effect = 0.5")
    assert (spec.gan.repeats, spec.first_seed, spec.eval.min_effect) == (3, 4, 0.5)
    assert loads_spec(spec_to_toml(spec), check_registries=False) == spec
    assert spec_of("", "gan.repeats=2", "seeds=4").gan.repeats == 2
    assert spec_of("", "gan.repeats=once").gan.repeats == "once"      # a bare word on --set


@pytest.mark.parametrize("text, overrides, line", [
    ("seeds = 3\n[gan]\nrepeats = 2", (),
     "gan.repeats: 2 GANs per size do not divide seeds = 3 (each GAN gets seeds / count classifier repeats); "
     "allowed: per-seed | once | a count that divides seeds (1, 3), or seeds a multiple of 2"),
    ("seeds = 6\n[gan]\nrepeats = 3", ("seeds=7",),      # an extension's seeds are checked the same way
     "gan.repeats: 3 GANs per size do not divide seeds = 7 (each GAN gets seeds / count classifier repeats); "
     "allowed: per-seed | once | a count that divides seeds (1, 7), or seeds a multiple of 3"),
    ("[gan]\nrepeats = 0", (),
     "gan.repeats: 0 is too small; allowed: per-seed | once | an integer >= 1 (GANs per size, each with seeds / "
     "count classifier repeats; it must divide seeds)"),
    ("[gan]\nrepeats = 'twice'", (), "gan.repeats: unknown value \"twice\"; allowed: per-seed | once | an integer "
     ">= 1 (GANs per size, each with seeds / count classifier repeats; it must divide seeds)"),
    ("[gan]\nrepeats = true", (), "gan.repeats: true is a boolean; allowed: per-seed | once | an integer >= 1 (GANs "
     "per size, each with seeds / count classifier repeats; it must divide seeds)"),
    ("first_seed = -1", (), "first_seed: -1 is too small; allowed: an integer >= 0"),
    ("first_seed = 1.5", (), "first_seed: 1.5 is a float, not an integer; allowed: an integer >= 0"),
    ("[eval]\nmin_effect = -1", (),
     "eval.min_effect: -1 is out of range; allowed: a number >= 0 (accuracy points: 1.0 = one percentage point)"),
    ("[eval]\nmin_effect = 'big'", (), "eval.min_effect: \"big\" is a string, not a number; allowed: a number >= 0 "
     "(accuracy points: 1.0 = one percentage point)"),
    ("[eval]\nmin_effect = nan", (), "eval.min_effect: nan is not finite; allowed: a number >= 0 (accuracy points: "
     "1.0 = one percentage point)"),
    ("[search]\nmetric = 'test_acc'", (), "search.metric: \"test_acc\" is a test metric: the search chooses on "
     "validation, never on test; allowed: val_acc_max | val_acc"),
    ("[search]\nmode = 'optuna'\nmetric = 'test_acc_max'", (), "search.metric: \"test_acc_max\" is a test metric: "
     "the search chooses on validation, never on test; allowed: val_acc_max | val_acc"),
    ("[search]\nmode = 'optuna'\n[eval]\nvalidation = 0\n[classifier]\nschedule = 'epochs'", (),
     "eval.validation: 0 leaves Optuna nothing to maximise: search.metric val_acc_max needs a validation split; "
     "allowed: \"auto\" or a number > 0, or search.mode = \"grid\""),
])
def test_bad_units_seeds_effects_and_objectives_are_one_line_naming_the_key(text, overrides, line):
    error = error_of(text, *overrides)
    assert str(error) == line
    assert_one_line(error, line.split(":")[0])


@pytest.mark.parametrize("metric", ["test_acc_at_best_val", "test_acc", "test_acc_max", "f1"])
def test_every_test_metric_is_refused_as_the_objective(metric):
    assert "is a test metric" in str(error_of(f"[search]\nmetric = '{metric}'"))
