"""What is wrong with a command line, in one line: jsonargparse's report, read for the option at fault.

jsonargparse reports a value it cannot use with the tree of every type it tried (a union's
``NoneType`` among them), under the command's whole usage: about 90 lines for a misspelt option,
the reason in the last few. A person needs the option, why, and what was probably meant::

    error: unknown option --trainer.max_epoch (did you mean --trainer.max_epochs?)
    error: --model.model: no torchvision.models.resnet81 (did you mean torchvision.models.resnet18?)

The report is plain text, so it is read here by its phrases; one that none of them matches keeps
its first reason, on one line. ``JSONARGPARSE_DEBUG=true`` raises jsonargparse's own report instead.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lit_classifier.specs import init_parameters, resolve

#: Where the classes a command line names usually live: a misspelt or bare name is looked up there.
KNOWN_MODULES = (
    "lit_classifier",
    "lit_classifier.models",
    "lit_classifier.optim",
    "torchvision.models",
    "torch.optim",
    "torch.optim.lr_scheduler",
)
#: Lines of a report that hold no reason: the tree's structure, and the union's other types.
_STRUCTURE = re.compile(
    r"^(Does not validate against any of the Union subtypes|Subtypes: |Errors:|Given value( type)?: "
    r"|Expected a <class 'NoneType'>|Expected a path but .* either not accessible or invalid"
    r"|Problem with given class_path '[^']*':$|Parser key \"[^\"]*\":$|$)"
)


@dataclass
class Report:
    """jsonargparse's report, and what it says about where the fault is."""

    text: str
    key: str  # the option at fault, joined from the nested ``Parser key "..."`` lines: "model.model"
    classes: list[str]  # the classes being built when it was found, outermost first
    options: Sequence[str]  # the command's options, for suggestions: "--trainer.max_epochs", ...
    command: str  # as typed before its options: "lit-classifier fit"

    @property
    def option(self) -> str:
        """The option at fault as typed: ``--model.model``, or a nested option the reason names."""
        named = re.search(r"^\s*-?\s*(--[\w.]+): ", self.text, re.MULTILINE)
        if named and self.key:
            return f"--{self.key}.{named.group(1)[2:]}"
        return named.group(1) if named else f"--{self.key}"

    @property
    def reasons(self) -> list[str]:
        """The report's lines that say what is wrong, without the tree around them."""
        lines = (re.sub(r"^\s*-\s*", "", line).strip() for line in self.text.splitlines())
        return [line for line in lines if not _STRUCTURE.match(line)]


def one_line(message: str, options: Sequence[str], command: str) -> str:
    """``message`` (jsonargparse's report) as one line naming the option and, where one is close,
    what was meant; ``options`` are the command's, ``command`` its name (``lit-classifier fit``)."""
    report = Report(
        text=message,
        key=".".join(re.findall(r'Parser key "([^"]+)"', message)),
        classes=re.findall(r"Problem with given class_path '([^']+)'", message),
        options=options,
        command=command,
    )
    for rule in RULES:
        line = rule(report)
        if line is not None:
            return line
    reason = (report.reasons or [message.strip()])[0]
    return f"{report.option}: {reason}" if report.key else reason


def unknown_option(report: Report) -> str | None:
    """An option the command, or the class being built, does not have: the closest one, or where
    the options are listed."""
    found = re.search(r"unrecognized arguments: (\S+)|Option '([^']+)' is not accepted", report.text)
    if found is None:
        return None
    given = (found.group(1) or "--" + found.group(2)).split("=")[0]
    if not given.startswith("--"):
        return f"unexpected argument {given!r}: options are written --name value"
    if report.key:
        given, candidates = f"--{report.key}.{given[2:]}", class_options(report)
        listed = f"{report.command} --{report.key}.help {report.classes[-1]}" if report.classes else ""
    else:
        candidates, listed = list(report.options), f"{report.command} --help"
    meant = closest(given, candidates)
    return f"unknown option {given}" + (f" (did you mean {meant}?)" if meant else f" ({listed} lists them)")


def unknown_config_key(report: Report) -> str | None:
    """A key of a config file that is no option of the command."""
    found = re.search(r"does not accept option '([^']+)'", report.text)
    if found is None:
        return None
    keys = [option[2:] for option in report.options]
    return f"unknown option {found.group(1)} in a config file{did_you_mean(found.group(1), keys)}"


def missing_class(report: Report) -> str | None:
    """A class path whose module has no such name: a misspelt class."""
    found = re.search(r"module '([\w.]+)' has no attribute '(\w+)'", report.text)
    if found is None:
        return None
    module, name = found.groups()
    return f"{report.option}: no {module}.{name}{did_you_mean(f'{module}.{name}', public_names(module))}"


def missing_module(report: Report) -> str | None:
    """A class path whose module cannot be imported."""
    found = re.search(r"No module named '([\w.]+)'", report.text)
    return None if found is None else f"{report.option}: no module named {found.group(1)}"


def unknown_name(report: Report) -> str | None:
    """A bare class name that is none of the known subclasses'."""
    found = re.search(r"Expected a dot import path string: (\S+)", report.text)
    if found is None:
        return None
    name = found.group(1)
    known = [path for module in KNOWN_MODULES for path in public_names(module)]
    by_name = {path.rsplit(".", 1)[1]: path for path in reversed(known)}
    meant = closest(name, by_name)
    suggestion = f" (did you mean {by_name[meant]}?)" if meant else ""
    return f"{report.option}: {name} is not the name of a class it knows: give its class path{suggestion}"


def wrong_class(report: Report) -> str | None:
    """A class of another kind than the option takes (``--model torch.nn.Linear``)."""
    found = re.search(r'"([\w.]+)" is not a subclass of (\w+)', report.text)  # from a --*.help option
    if found is not None:
        return f"{report.option}: {found.group(1)} is not a {found.group(2)}"
    found = re.search(r"Import path does not correspond to a subclass of (\w+)", report.text)
    return None if found is None else f"{report.option}: {given_value(report.text)} is not a {found.group(1)}"


def missing_file(report: Report) -> str | None:
    """A config file (or another path) that does not exist, with a close name in its folder."""
    found = re.search(r"File does not exist: '([^']+)'", report.text)
    if found is None:
        return None
    path = Path(found.group(1))
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    siblings = (
        [str(shown.parent / each.name) for each in path.parent.glob("*")] if path.parent.is_dir() else []
    )
    meant = _close(str(shown), siblings)
    return f"--{report.key or 'config'}: no file {shown}" + (f" (did you mean {meant}?)" if meant else "")


def bad_yaml(report: Report) -> str | None:
    """A config file that is not valid YAML."""
    found = re.search(r"Problems parsing config: (.*)", report.text, re.DOTALL)
    if found is None:
        return None
    lines = (line.strip().replace('in "<unicode string>", ', "") for line in found.group(1).splitlines())
    where = "; ".join(line for line in lines if line)
    return f"a config file is not valid YAML: {where}"


def wrong_type(report: Report) -> str | None:
    """A value of another type than the option takes, with the closest allowed value."""
    expected = re.findall(r"Expected a (<class '(\w+)'>|typing\.Literal\[([^\]]*)\])", report.text)
    kinds = [kind for _, kind, _ in expected if kind and kind != "NoneType"]
    choices = [choice.strip(" '") for *_, listed in expected for choice in listed.split(",") if listed]
    if not kinds and not choices:
        return None
    value = given_value(report.text)
    allowed = [ARTICLES.get(kind, f"a {kind}") for kind in dict.fromkeys(kinds)]
    if choices:
        allowed.append("one of " + ", ".join(dict.fromkeys(choices)))
    return f"{report.option}: {value!r} is not {' or '.join(allowed)}{did_you_mean(value, choices)}"


def unknown_choice(report: Report) -> str | None:
    """A value outside an option's choices: a subcommand, most often."""
    found = re.search(r"argument (\w+): invalid choice: '([^']+)' \(choose from ([^)]*)\)", report.text)
    if found is None:
        return None
    what, given, listed = found.groups()
    choices = [choice.strip(" '") for choice in listed.split(",")]
    return f"unknown {what} {given!r}: one of {', '.join(choices)}{did_you_mean(given, choices)}"


RULES: tuple[Callable[[Report], str | None], ...] = (
    unknown_option,
    unknown_config_key,
    missing_class,
    missing_module,
    unknown_name,
    wrong_class,
    missing_file,
    bad_yaml,
    unknown_choice,
    wrong_type,
)
ARTICLES = {"int": "an int", "float": "a float", "bool": "true or false", "str": "a string"}


def given_value(text: str) -> str:
    """The value a report says was given: the innermost ``Got value``, else ``Given value``."""
    got = re.search(r"Got value: (.+?)\.?(?:\s|$)", text)
    if got:
        return got.group(1)
    nested = re.search(r"NestedArg\(key='[^']*', val='([^']*)'\)", text)
    given = re.search(r"^\s*Given value: (.+)$", text, re.MULTILINE)
    return nested.group(1) if nested else given.group(1) if given else ""


def did_you_mean(given: str, candidates: Iterable[str]) -> str:
    meant = closest(given, candidates)
    return f" (did you mean {meant}?)" if meant else ""


def closest(given: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``given`` most likely misspells, case aside: a close last part among those
    with the same first parts (``--trainer.max_epochs``), else the same or a close last part
    elsewhere (``--model.optimizer.lr`` for ``--model.lr``), else a close whole; ``None`` when none is."""
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    parent, _, last = given.lower().rpartition(".")
    siblings = {lower.rpartition(".")[2]: lower for lower in by_lower if lower.rpartition(".")[0] == parent}
    close = _close(last, siblings)
    if close:
        return by_lower[siblings[close]]
    lasts = {lower.rpartition(".")[2]: lower for lower in reversed(by_lower) if "." in lower}
    close = lasts.get(last) or lasts.get(_close(last, lasts) or "")
    whole = [close] if close else difflib.get_close_matches(given.lower(), by_lower, n=1, cutoff=0.85)
    return by_lower[whole[0]] if whole else None


def _close(given: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(given, candidates, n=1, cutoff=0.75)
    return close[0] if close else None


def class_options(report: Report) -> list[str]:
    """The options of the class being built at ``report.key``, of the classes its defaults name
    (``--model.optimizer.lr`` of the default optimizer) and of its groups (``--data.augment.flip``)."""
    parameters = _parameters(resolve(report.classes[-1])) if report.classes else {}
    options = [f"--{report.key}.{name}" for name in parameters]
    for name, parameter in parameters.items():
        default = parameter.default
        if inspect.isclass(default):
            options += [f"--{report.key}.{name}.{inner}" for inner in _parameters(default)]
        elif dataclasses.is_dataclass(default):
            options += [f"--{report.key}.{name}.{field.name}" for field in dataclasses.fields(default)]
    return options


def _parameters(target: object) -> dict[str, inspect.Parameter]:
    try:
        return init_parameters(target)
    except (TypeError, ValueError):  # no signature to read
        return {}


def public_names(module: str) -> list[str]:
    """``module.Name`` for each public class or function of ``module``; none if it cannot be imported."""
    try:
        imported = importlib.import_module(module)
    except ImportError:
        return []
    return [
        f"{module}.{name}"
        for name, value in vars(imported).items()
        if not name.startswith("_") and callable(value)
    ]
