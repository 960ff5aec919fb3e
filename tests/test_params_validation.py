"""Notebook parameters are checked in the first code cell, before anything is written: every parameter
of every notebook, given a wrong type, an out-of-range value or a name its registry lacks, gives one
clear error; a misspelled name names the closest parameter; checks across parameters hold. The run
configurations check their fields with the same rules. Fast (no kernel) except one papermill run."""
import ast
import json
from pathlib import Path

import nbformat
import pytest
import yaml

from cxrlib.core.params import (
    COMMON_RULES,
    REGISTRIES,
    ParameterError,
    check_values,
    injected_names,
    notebook_rules,
    parameter_rules,
    resolve_registry,
    validate_params,
)

REPO = Path(__file__).resolve().parents[1]
ALL_NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def has_validation(notebook: Path) -> bool:
    try:
        cells(notebook)
    except StopIteration:
        return False
    return True


def cells(notebook: Path) -> tuple[str, str]:
    """(parameter cell, the statements of the first code cell up to its validate_params call)."""
    nb = nbformat.read(notebook, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    first = next(c for c in nb.cells[index + 1:] if c.cell_type == "code")
    tree = ast.parse(first.source)
    upto = next(i for i, node in enumerate(tree.body)
                if "validate_params(" in ast.unparse(node) and not isinstance(node, ast.ImportFrom))
    return nb.cells[index].source, ast.unparse(ast.Module(body=tree.body[:upto + 1], type_ignores=[]))


def rules_of(notebook: Path) -> dict:
    """The effective rule of every parameter (the notebook's own, else COMMON_RULES), read from the source."""
    return parameter_rules(defaults_of(notebook), notebook_rules(notebook)[0])


def defaults_of(notebook: Path) -> dict:
    namespace: dict = {}
    exec(cells(notebook)[0], namespace)
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


def run_first_cell(notebook: Path, **overrides) -> dict:
    """Execute the parameter cell, the overrides (as papermill would) and the validation, like the kernel."""
    parameters, validation = cells(notebook)
    namespace: dict = {}
    exec(parameters, namespace)
    namespace.update(overrides)
    exec(validation, namespace)
    return namespace


NOTEBOOKS = [nb for nb in ALL_NOTEBOOKS if has_validation(nb)]
CASES = [(nb, name) for nb in NOTEBOOKS for name in defaults_of(nb)]


@pytest.mark.parametrize("notebook", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_validates_its_parameters_first(notebook):
    assert has_validation(notebook), (
        f"{notebook.name}: the first code cell after the parameter cell does not call validate_params "
        "(add `validate_params(globals(), \"<name>\", rules={...})`, see cxrlib.core.params)")
    assert notebook in NOTEBOOKS  # so every test below covers it


def wrong_type(rule) -> object:
    """A value of a type the rule does not accept."""
    for candidate in ("abc", 12345, [1, 2], {"a": 1}, 1.5, True):
        kind_ok = any(_accepts(t, candidate) for t in rule.types)
        if not kind_ok:
            return candidate
    raise AssertionError(f"no wrong type for {rule}")


def _accepts(type_name, value):
    from cxrlib.core.params import _is

    return _is(value, type_name)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_defaults_pass_and_every_parameter_has_a_type(notebook):
    namespace = run_first_cell(notebook)
    assert "validate_params" in namespace
    for name, rule in rules_of(notebook).items():
        assert rule.types is not None or rule.choices is not None, f"{notebook.stem}.{name} accepts anything"


@pytest.mark.parametrize("profile", ["classroom", "paper"])
def test_every_params_file_passes(profile):
    for params_file in sorted((REPO / "params" / profile).glob("*.yaml")):
        notebook = REPO / "notebooks" / f"{params_file.stem.split('--')[0]}.ipynb"
        if notebook not in NOTEBOOKS:
            continue
        values = yaml.safe_load(params_file.read_text()) or {}
        run_first_cell(notebook, out_dir="book/_generated/x", profile=profile, **values)


@pytest.mark.parametrize("notebook,name", CASES, ids=[f"{nb.stem}.{n}" for nb, n in CASES])
def test_a_wrong_type_is_one_clear_error(notebook, name):
    rule = rules_of(notebook)[name]
    if rule.types is None:  # a list of allowed values
        bad = "not-a-choice"
    else:
        bad = wrong_type(rule)
    with pytest.raises(ParameterError) as error:
        run_first_cell(notebook, **{name: bad})
    message = str(error.value)
    assert f"{name} = {bad!r}" in message and "1 parameter problem" in message, message
    assert notebook.stem in message and "nothing was written" in message


def out_of_range(rule, default):
    """A value of the right type that the rule's bounds, emptiness, choices or registry refuse (None if none)."""
    if rule.choices is not None:
        return "not-a-choice"
    if rule.registry is not None:
        return ["not-a-choice"] if isinstance(default, list) else "not-a-choice"
    for op, bound in rule.bounds:
        value = {">=": bound - 1, ">": bound, "<=": bound + 1, "<": bound}[op]
        is_int = "int" in (rule.types or ()) or rule.element == "int" or isinstance(default, int)
        value = int(value) if is_int and float(value).is_integer() else value
        if is_int and not float(value).is_integer():
            continue
        if isinstance(default, list) or (rule.types and "list" in rule.types and "int" not in rule.types
                                         and "float" not in rule.types):
            return [value]
        return value
    if rule.nonempty:
        return type(default)() if default is not None else ""
    return None


RANGED = [(nb, n) for nb, n in CASES if out_of_range(rules_of(nb)[n], defaults_of(nb)[n]) is not None]


@pytest.mark.parametrize("notebook,name", RANGED, ids=[f"{nb.stem}.{n}" for nb, n in RANGED])
def test_an_out_of_range_value_is_one_clear_error(notebook, name):
    default = defaults_of(notebook)[name]
    bad = out_of_range(rules_of(notebook)[name], default)
    with pytest.raises(ParameterError) as error:
        run_first_cell(notebook, **{name: bad})
    assert f"{name} = {bad!r}" in str(error.value) and "1 parameter problem" in str(error.value)


def test_the_issue_examples():
    finetune = REPO / "notebooks" / "03_finetune.ipynb"
    for overrides, text in [({"epochs": 0}, "epochs = 0: must be >= 1"),
                            ({"lr": "abc"}, "lr = 'abc': must be a number"),
                            ({"seed": "abc"}, "seed = 'abc': must be an integer"),
                            ({"image_size": "64px"}, "image_size = '64px': must be an integer"),
                            ({"lr": float("nan")}, "must be a finite number"),
                            ({"optimizer": "adamx"}, "did you mean 'adam'"),
                            ({"epoch": 2}, "unknown parameter 'epoch' (did you mean 'epochs'?)")]:
        with pytest.raises(ParameterError, match=".*") as error:
            run_first_cell(finetune, **overrides)
        assert text in str(error.value), str(error.value)
    with pytest.raises(ParameterError) as error:  # every problem at once
        run_first_cell(finetune, epochs=0, lr="abc", epoch=2)
    assert "3 parameter problem" in str(error.value)


def test_injected_names_come_from_papermills_cell():
    history = ["", 'out_dir = "x"\nepochs = 8\n', '# Parameters\nepoch = 2\nout_dir = "y"\n', "validate_params(...)"]
    assert injected_names({"In": history}) == {"epoch", "out_dir"}
    assert injected_names({"In": ["", "x = 1"]}) == set()  # interactive: nothing injected
    assert injected_names({}) is None
    # in a kernel, globals that are not injected (later cells run again) are not parameters
    namespace = {"In": history[:2] + ["import numpy as np"], "epochs": 8, "out_dir": "x", "np": 1, "stray": 2}
    assert validate_params(namespace, {"out_dir": "o", "epochs": 1})["epochs"] == 8
    with pytest.raises(ParameterError, match="did you mean 'epochs'"):
        validate_params({**namespace, "In": history}, {"out_dir": "o", "epochs": 1})


def test_rules_for_names_that_are_not_parameters_are_refused():
    with pytest.raises(ValueError, match="not parameters"):
        validate_params({"a": 1}, {"a": 1}, rules={"b": ">0"})
    with pytest.raises(ValueError, match="not parameters"):
        validate_params({"a": 1}, {"a": 1}, checks=["a < b"])
    with pytest.raises(ValueError, match="registry word"):
        validate_params({"a": "x"}, {"a": "x"}, rules={"a": "in:backbones"})
    for check in ["__import__('os') or a", "a.__class__", "[x for x in a]", "a.b.c"]:
        with pytest.raises(ValueError, match="check"):
            validate_params({"a": 1}, {"a": 1}, checks=[check])


@pytest.mark.slow
def test_papermill_refuses_a_misspelled_and_a_bad_parameter_before_writing(tmp_path):
    papermill = pytest.importorskip("papermill")
    notebook = REPO / "notebooks" / "04_evaluate.ipynb"
    for parameters, text in [({"n_bot": 10}, "unknown parameter 'n_bot' (did you mean 'n_boot'?)"),
                             ({"alpha": "abc"}, "alpha = 'abc': must be a number")]:
        out_dir = tmp_path / "run"
        executed = tmp_path / "executed.ipynb"
        with pytest.raises(papermill.PapermillExecutionError) as error:
            papermill.execute_notebook(str(notebook), str(executed), parameters={"out_dir": str(out_dir), **parameters},
                                       kernel_name="python3", cwd=str(REPO), progress_bar=False)
        assert "ParameterError" in str(error.value) and text in str(error.value), str(error.value)[-2000:]
        assert not out_dir.exists() and not list(tmp_path.glob("run*")), "the refused run wrote something"
        outputs = json.loads(executed.read_text())
        assert outputs["metadata"]["papermill"]["exception"]


# ------------------------------------------------------------------------- registries and checks

FINETUNE = REPO / "notebooks" / "03_finetune.ipynb"


@pytest.mark.parametrize("word", REGISTRIES)
def test_every_registry_word_names_a_registry(word):
    table, what = resolve_registry(word)
    assert len(table) > 0 and what
    longest = max(table, key=len)  # one letter more: closest to this name only
    with pytest.raises(ParameterError, match=f"unknown {what} '{longest}x'.*did you mean {longest!r}"):
        check_values({"x": longest + "x"}, {"x": longest}, {"x": f"in:{word}"})


@pytest.mark.parametrize("parameter,bad,hint", [
    ("backbone", "convnextv2_att", "convnextv2_atto"), ("task", "kermany_pneumonai", "kermany_pneumonia"),
    ("head", "linaer", "linear"), ("optimizer", "adamx", "adam"), ("augment", "d0000", "d000"),
    ("preprocess", "clasroom", "classroom"),
])
def test_an_unknown_registry_name_is_refused_with_did_you_mean(parameter, bad, hint):
    with pytest.raises(ParameterError) as error:
        run_first_cell(FINETUNE, **{parameter: bad})
    message = str(error.value)
    assert "1 parameter problem" in message and f"{parameter} = {bad!r}: unknown" in message, message
    assert f"did you mean {hint!r}" in message, message


def test_ssl_method_policy_and_projection_head_come_from_their_registries():
    pretrain = REPO / "notebooks" / "02_pretrain.ipynb"
    for overrides, text in [({"method": "simcrl"}, "unknown SSL method 'simcrl'"),
                            ({"policy": "d004_mocco"}, "did you mean 'd004_moco'"),
                            ({"head": "d00z"}, "unknown projection head 'd00z'"),
                            ({"pool_sources": ["kermany", "nih_smaple"]}, "did you mean 'nih_sample'"),
                            ({"precision": "16"}, "unknown precision '16'")]:
        with pytest.raises(ParameterError) as error:
            run_first_cell(pretrain, **overrides)
        assert text in str(error.value) and "1 parameter problem" in str(error.value), str(error.value)
    run_first_cell(pretrain, head=None, precision="bf16")  # None: the method's head


def test_checks_across_parameters():
    with pytest.raises(ParameterError) as error:  # a ViT takes whole patches (the row's patch_size)
        run_first_cell(FINETUNE, backbone="dinov2_vits14", image_size=64)
    assert ("image_size % backbone.patch_size == 0 does not hold: image_size = 64, backbone = 'dinov2_vits14', "
            "backbone.patch_size = 14") in str(error.value)
    run_first_cell(FINETUNE, backbone="dinov2_vits14", image_size=56)
    run_first_cell(FINETUNE, backbone="resnet18", image_size=65)  # a CNN has no patch: the check does not apply
    with pytest.raises(ParameterError) as error:  # a broken parameter is reported once, not again by the check
        run_first_cell(FINETUNE, backbone="dinov2_vits4", image_size=64)
    assert "1 parameter problem" in str(error.value)
    federated = REPO / "notebooks" / "08_federated.ipynb"
    with pytest.raises(ParameterError) as error:
        run_first_cell(federated, n_clients=3, quorum=4, attack_client=3)
    message = str(error.value)
    assert "3 parameter problem" in message and "len(client_sizes) == n_clients does not hold" in message, message
    assert "quorum <= n_validators" in message and "attack_client < n_clients" in message
    semssxl = REPO / "notebooks" / "09_semssxl.ipynb"
    for overrides, text in [({"ablation_fraction": 0.5}, "ablation_fraction in fractions does not hold"),
                            ({"ablations": ["full"]}, "'full' not in ablations does not hold"),
                            ({"ablations": ["no_atention"]}, "did you mean 'no_attention'")]:
        with pytest.raises(ParameterError, match=text):
            run_first_cell(semssxl, **overrides)


def test_a_check_that_reads_none_does_not_apply():
    assert check_values({"a": None, "b": 2}, {"a": 1, "b": 1}, {"a": "int|None"}, ["a < b"])["b"] == 2
    with pytest.raises(ParameterError, match="a < b does not hold: a = 3, b = 2"):
        check_values({"a": 3, "b": 2}, {"a": 1, "b": 1}, checks=["a < b"])


def test_validated_parameters_are_returned_for_provenance():
    namespace = run_first_cell(REPO / "notebooks" / "08_federated.ipynb", rounds=7)
    assert namespace["params"] == {**defaults_of(REPO / "notebooks" / "08_federated.ipynb"), "rounds": 7}
    for notebook in ("05_explain", "08_federated", "12_label_efficiency", "09_semssxl", "10_dual_stream"):
        source = (REPO / "notebooks" / f"{notebook}.py").read_text()
        assert "params = validate_params(" in source and "globals().items() if k in" not in source, notebook


def test_the_configurations_check_with_the_same_rules():
    from cxrlib.training.finetune import TrainConfig
    from cxrlib.training.ssl import PretrainConfig

    for config, overrides, text in [
        (TrainConfig, {"optimizer": "adamx"}, "optimizer = 'adamx': unknown optimizer 'adamx'"),
        (TrainConfig, {"backbone": "dinov2_vits14", "image_size": 64}, "image_size % backbone.patch_size == 0"),
        (TrainConfig, {"head": "lin"}, "did you mean 'linear'"),
        (TrainConfig, {"epochs": 0}, "epochs = 0: must be >= 1"),
        (PretrainConfig, {"method": "simclr", "head": "d004_mocco"}, "did you mean 'd004_moco'"),
        (PretrainConfig, {"batch_size": 1}, "batch_size = 1: must be >= 2"),
        (PretrainConfig, {"pool_sources": ["kermany", "nih"]}, "unknown pool source 'nih'"),
    ]:
        with pytest.raises(ParameterError) as error:
            config(out_dir="x", **overrides)
        assert text in str(error.value) and str(error.value).startswith(config.__name__), str(error.value)
    assert PretrainConfig(out_dir="x", epochs=0).epochs == 0  # epoch 0: the initial checkpoint only


def test_notebook_rules_are_data():
    """Every notebook's rules and checks read from its source, without running it (a sweep checks its grid
    points with them), and every registry-backed parameter name of COMMON_RULES resolves."""
    for notebook in NOTEBOOKS:
        rules, checks = notebook_rules(notebook)
        assert isinstance(rules, dict) and all(isinstance(c, str) for c in checks)
        effective = parameter_rules(defaults_of(notebook), rules)
        # a notebook's own rule says what differs from COMMON_RULES, and never drops a registry
        assert not {k for k, v in rules.items() if COMMON_RULES.get(k) == v}, notebook.stem
        common = parameter_rules(defaults_of(notebook), {})
        weaker = [k for k in rules if common[k].registry and not (effective[k].registry or effective[k].choices)]
        assert not weaker, f"{notebook.stem}: {weaker} accept names their registry lacks"
    for name, spec in COMMON_RULES.items():
        rule = parameter_rules({name: None}, {})[name]
        if rule.registry is not None:
            assert len(resolve_registry(rule.registry)[0]) > 0, name
