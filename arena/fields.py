"""What a user can set, described once, for every place that sets it.

A setting is a field of a pydantic model (a player spec, a tournament config, a training job):
the model holds its type, default, bounds, help (the attribute's docstring) and checks, and
the backends and the runner read the validated model. A `FieldDef` adds what a person needs
to set it: a label, a placeholder, what a blank means, the kinds it applies to and the command
line flag. From one list of them the app builds its forms and the CLI its options, and every
value is judged by the model itself, so a bad value gets the same sentence everywhere
(`problem_sentences`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import click
from pydantic import BaseModel, ValidationError

FieldType = Literal["text", "int", "float", "choice", "bool", "json"]
Blank = Literal["default", "none"]


@dataclass(frozen=True)
class FieldDef:
    """One setting as a person sets it."""

    key: str  # dotted path in the data ("prompt.reasoning")
    label: str  # the form's label, and the name its errors go by
    type: FieldType
    kinds: tuple[str, ...]  # the player kinds (or tournament formats) it applies to
    blank: Blank = "default"  # what an empty input means: the model's default, or None
    hint: str = ""  # the input's placeholder
    choices: tuple[str, ...] = ()
    help: str = ""  # one line for --help and the form (the model's docstring by default)
    flag: str = ""  # the CLI option ("--n-ctx"); "" for the last part of the key

    @property
    def nullable(self) -> bool:
        return self.blank == "none"

    @property
    def widget_id(self) -> str:
        return "f-" + self.key.replace(".", "-")

    @property
    def option(self) -> str:
        return self.flag or "--" + self.key.split(".")[-1].replace("_", "-")

    @property
    def dest(self) -> str:
        """The keyword the CLI command receives the option's value as."""
        return "f_" + self.key.replace(".", "__")


def model_field(model: type[BaseModel], key: str) -> Any:
    """The pydantic field behind a dotted key (nested models followed through their
    annotations: "prompt.reasoning" in a player spec)."""
    *parents, leaf = key.split(".")
    cls = model
    for part in parents:
        annotation = cls.model_fields[part].annotation
        cls = next(a for a in (annotation, *get_args(annotation)) if _is_model(a))
    return cls.model_fields[leaf]


def _is_model(a: Any) -> bool:
    return isinstance(a, type) and issubclass(a, BaseModel)


def describe(
    model: type[BaseModel],
    key: str,
    label: str,
    type: FieldType,
    kinds: tuple[str, ...],
    **kw: Any,
) -> FieldDef:
    """A `FieldDef` whose choices and help come from the model's field."""
    info = model_field(model, key)
    if type == "choice" and "choices" not in kw:
        kw["choices"] = tuple(a for a in get_args(info.annotation) if isinstance(a, str))
    if "help" not in kw:
        kw["help"] = " ".join((info.description or "").split())
    return FieldDef(key, label, type, kinds, **kw)


# ------------------------------------------------------------------------- text to values


class FieldValueError(ValueError):
    """A value's text cannot be read (JSON that does not parse); the message continues the
    field's name ("is not valid JSON: ...")."""


def from_text(field: FieldDef, text: Any) -> tuple[bool, Any]:
    """(given, value): what a form input's or a CLI option's text sets. Numbers stay text:
    the model parses and judges them, so its message is the one a user sees. A blank sets
    nothing (the default) or None, as the field says."""
    if field.type == "bool":
        return True, bool(text)
    if text is None:
        return False, None
    raw = text if field.key.endswith("system_extra") else str(text).strip()
    if raw == "":
        return (True, None) if field.nullable else (False, None)
    if field.type == "json":
        try:
            return True, json.loads(raw)
        except json.JSONDecodeError as exc:
            raise FieldValueError(f"is not valid JSON: {exc.msg} (column {exc.colno})") from None
    return True, raw


def put(data: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted key in nested dicts."""
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def lookup(data: dict[str, Any], key: str) -> tuple[bool, Any]:
    """(found, value) of a dotted key in nested dicts."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


# ------------------------------------------------------------------------------ messages

_SHOWN_INPUT = {  # errors whose offending value is worth repeating (never a free-text field)
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "int_parsing",
    "int_from_float",
    "float_parsing",
    "finite_number",
    "bool_parsing",
    "literal_error",
}


_PREDICATES = {
    "missing": "is required",
    "extra_forbidden": "is not a known setting",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "dict_type": "must be a table of settings",
    "model_type": "must be a table of settings",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "must be at least {}"),
    "greater_than": ("gt", "must be more than {}"),
    "less_than_equal": ("le", "must be at most {}"),
    "less_than": ("lt", "must be less than {}"),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a value: where, and what, as the end of a sentence ("must be at
    least 128 (got 8)") or, from our own validators, a sentence of its own."""

    loc: str  # dotted location in the data ("sampling.stop.0"); "" for the whole
    text: str
    predicate: bool  # `text` continues the field's name; otherwise it stands alone

    def sentence(self, name: str = "") -> str:
        """The problem naming the field (`name`: a label, an option; the location by
        default)."""
        name = name or self.loc or "the settings"
        return f"{name} {self.text}" if self.predicate else f"{name}: {self.text}"


def problem(err: Any, skip: Iterable[str] = ()) -> Problem:
    """A pydantic error (one of `ValidationError.errors()`) in words."""
    skipped = set(skip)
    loc = ".".join(str(p) for p in err["loc"] if p not in skipped)
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _PREDICATES:
        text = _PREDICATES[kind]
    elif kind in _BOUNDS:
        bound, words = _BOUNDS[kind]
        text = words.format(ctx[bound])
    elif kind == "literal_error":
        text = f"must be one of {ctx['expected']}"
    elif kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        text = f"{'needs at least' if kind == 'too_short' else 'takes at most'} {n} item" + (
            "s" if n != 1 else ""
        )
    else:  # our own validators write whole sentences
        text = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return Problem(loc, text, False)
    value = err.get("input")
    if kind in _SHOWN_INPUT and isinstance(value, (int, float, str)) and len(str(value)) <= 40:
        # A number typed as text reads as typed; other text is quoted, so blanks show.
        plain = not isinstance(value, str) or kind in _BOUNDS
        text += f" (got {value})" if plain else f" (got {value!r})"
    return Problem(loc, text, True)


def problems(exc: ValidationError, skip: Iterable[str] = ()) -> list[Problem]:
    """Every error of a validation, in words (`skip`: location parts that are union tags)."""
    return [problem(err, skip) for err in exc.errors()]


# --------------------------------------------------------------------------------- CLI


def click_options(fields: Iterable[FieldDef], *, group: str = "") -> Callable[[Any], Any]:
    """A decorator adding one option per field (values arrive as text, for the model to judge;
    bools as --x/--no-x). The help says which kinds a field applies to when `group` names
    the kind of kinds ("llamacpp: context size")."""
    fields = list(fields)

    def decorate(fn: Any) -> Any:
        for f in reversed(fields):
            help_text = f.help or f.label
            if group:
                help_text = f"{'/'.join(f.kinds)}: {help_text}"
            if f.type == "bool":
                name = f.option.removeprefix("--")
                decl = [f"--{name}/--no-{name}", f.dest]
                fn = click.option(*decl, default=None, help=help_text)(fn)
                continue
            metavar = {
                "int": "INTEGER",
                "float": "NUMBER",
                "json": "JSON",
                "text": "TEXT",
            }.get(f.type, "[" + "|".join(f.choices) + "]")
            fn = click.option(f.option, f.dest, default=None, metavar=metavar, help=help_text)(fn)
        return fn

    return decorate


def take_options(fields: Iterable[FieldDef], opts: dict[str, Any]) -> list[tuple[FieldDef, Any]]:
    """The fields whose options were given, with their values (their keywords are taken out
    of `opts`, so what is left there is the command's own)."""
    given = []
    for f in fields:
        value = opts.pop(f.dest, None)
        if value is not None:
            given.append((f, value))
    return given


def option_usage_error(found: list[Problem], given: Iterable[FieldDef]) -> click.UsageError | None:
    """Where a value given as an option is wrong, a usage error naming each problem by its
    option ("--n-ctx must be at least 128 (got 8)"): the model's own words, the command line's
    name. None when no given option is at fault (a config file's value, say)."""
    options = {f.key: f.option for f in given}
    if not any(p.loc in options for p in found):
        return None
    return click.UsageError("; ".join(p.sentence(options.get(p.loc, "")) for p in found))


def check_option(model: type[BaseModel], field: FieldDef, text: str) -> Any:
    """An option's value judged by the model's own field alone (for a command that sets one
    field of a stored config); a usage error in the model's words, naming the option."""
    from typing import Annotated

    from pydantic import TypeAdapter

    info = model_field(model, field.key)
    try:
        return TypeAdapter(Annotated[info.annotation, info]).validate_python(text)
    except ValidationError as exc:
        found = [problem(err) for err in exc.errors()]
        found = [Problem(field.key, p.text, p.predicate) for p in found]
        raise click.UsageError("; ".join(p.sentence(field.option) for p in found)) from None
