"""Notebook parameters are checked in the first code cell, before anything is written: every parameter
of every notebook, given a wrong type or an out-of-range value, gives one clear error; a misspelled name
names the closest parameter. Fast (no kernel) except one papermill run."""
import ast
import json
from pathlib import Path

import nbformat
import pytest
import yaml

from cxrlib.core.params import ParameterError, injected_names, parse_rule, validate_params

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
    _, validation = cells(notebook)
    call = next(n for n in ast.walk(ast.parse(validation)) if isinstance(n, ast.Call)
                and getattr(n.func, "id", None) == "validate_params")
    return ast.literal_eval(next(k.value for k in call.keywords if k.arg == "rules"))


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
    rules = rules_of(notebook)
    for name, default in defaults_of(notebook).items():
        rule = parse_rule(rules.get(name), default, name)
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
    rules, defaults = rules_of(notebook), defaults_of(notebook)
    rule = parse_rule(rules.get(name) if name in rules else
                      __import__("cxrlib.core.params", fromlist=["COMMON_RULES"]).COMMON_RULES.get(name),
                      defaults[name], name)
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
    """A value of the right type that the rule's bounds, emptiness or choices refuse (None if none)."""
    if rule.choices is not None:
        return "not-a-choice"
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


RANGED = [(nb, n) for nb, n in CASES
          if out_of_range(parse_rule({**__import__("cxrlib.core.params", fromlist=["x"]).COMMON_RULES,
                                      **rules_of(nb)}.get(n), defaults_of(nb)[n], n), defaults_of(nb)[n]) is not None]


@pytest.mark.parametrize("notebook,name", RANGED, ids=[f"{nb.stem}.{n}" for nb, n in RANGED])
def test_an_out_of_range_value_is_one_clear_error(notebook, name):
    from cxrlib.core.params import COMMON_RULES

    default = defaults_of(notebook)[name]
    rule = parse_rule({**COMMON_RULES, **rules_of(notebook)}.get(name), default, name)
    bad = out_of_range(rule, default)
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
