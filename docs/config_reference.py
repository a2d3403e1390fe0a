"""The configuration reference: every key of ``conf/**/*.yaml``, its default and its meaning.

A key's meaning is the comment beside it in the YAML. Where a file only sets a key that
another file defines (an experiment, a search, a debug preset), the defining file's comment
is used, and Hydra's own keys (``_target_``, ``_partial_``, an interpolation, a choice in
``defaults``) are described from their value. :func:`undescribed` lists the keys left
without a meaning, which ``tests/test_docs.py`` requires to be none. ruamel.yaml (round-trip
mode) keeps the comments. ``docs/gen_config_reference.py`` writes the page at build time.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq


def _notes(text: str) -> list[str]:
    """Whole-line comments in ``text``: one note per run of consecutive lines."""
    notes, para = [], []
    for line in text.splitlines() + [""]:
        if line.strip().startswith("#"):
            para.append(line.strip().lstrip("#").strip())
        elif para:
            notes.append(" ".join(para))
            para = []
    return notes


def _eol(container, key, notes: list[str] | None = None) -> str:
    """The comment on the same line as ``key``.

    ruamel glues the whole-line comments that follow a key onto that key's comment token, and
    keeps those before a nested mapping's first key in slot 3; both go to ``notes`` (they
    belong to no single key).
    """
    entry = container.ca.items.get(key) if hasattr(container, "ca") else None
    if not entry:
        return ""
    if notes is not None and len(entry) > 3 and isinstance(entry[3], list):
        for token in entry[3]:
            notes += _notes(token.value)
    # A mapping key's end-of-line comment is slot 2, a sequence item's slot 0.
    is_map = isinstance(container, CommentedMap)
    key_line = (container.lc.key(key) if is_map else container.lc.item(key))[0]
    for token in (entry[2] if len(entry) > 2 else None, entry[0]):
        if token is None or isinstance(token, list):
            continue
        if (
            token.start_mark.line != key_line
        ):  # after a block scalar (key: |): no comment of its own
            first, rest = "", token.value
        else:
            first, _, rest = token.value.partition("\n")
        if notes is not None:
            notes += _notes(rest)
        first = first.strip()
        return first.lstrip("#").strip() if first.startswith("#") else ""
    return ""


def _header(doc) -> list[str]:
    """The comment lines at the top of a file (``# @package`` directives left out)."""
    lines = []
    tokens = (
        doc.ca.comment[1]
        if doc is not None and getattr(doc, "ca", None) and doc.ca.comment
        else None
    )
    for token in tokens or []:
        for line in token.value.splitlines():
            text = line.strip().lstrip("#").strip()
            if text and not text.startswith("@package"):
                lines.append(text)
    return lines


def _cell(text: str) -> str:
    """A Markdown table cell: one line, pipes escaped outside code spans (``max | min``).

    Python-Markdown's tables extension already ignores a pipe inside backticks, and would
    print a backslash escape there literally.
    """
    parts = re.split(r"(`+[^`]*?`+)", text.replace("\n", " "))
    return "".join(p if p.startswith("`") else p.replace("|", "\\|") for p in parts)


def _code(text: str, limit: int = 80) -> str:
    """``text`` as an inline code span, shortened to ``limit`` characters."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if "`" in text:  # a code span holding backticks needs a longer fence
        return f"`` {text} ``"
    return f"`{text}`"


def _value(value) -> str:
    if isinstance(value, (CommentedMap, CommentedSeq)) and not value:
        return "`{}`" if isinstance(value, dict) else "`[]`"
    if isinstance(value, CommentedSeq):
        return _code("[" + ", ".join(str(v) for v in value) + "]")
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return _code(value)


def _rows(mapping: CommentedMap, notes: list[str], prefix: str = ""):
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if key == "defaults" and not prefix and isinstance(value, CommentedSeq):
            for i, item in enumerate(value):
                if isinstance(item, CommentedMap) and len(item) == 1:  # "- optim: sgd  # why"
                    ((group, option),) = item.items()  # the comment sits on the one-key item
                    yield f"defaults: {group}", _value(option), _eol(item, group, notes)
                else:
                    yield "defaults", _value(item), _eol(value, i, notes)
            continue
        if isinstance(value, CommentedMap) and value:
            yield name, "", _eol(mapping, key, notes)
            yield from _rows(value, notes, f"{name}.")
        else:
            yield name, _value(value), _eol(mapping, key, notes)


def render(conf: Path) -> str:
    yaml = YAML()  # round-trip: keeps comments
    known = comments_by_key(conf)
    out = [
        "# Configuration reference",
        "",
        "Generated at build time from `conf/` by `docs/gen_config_reference.py`: every key,",
        "its type, its default and its meaning (the comment beside it in the YAML; for a key a",
        "file only sets, the comment where it is defined). The types are the schema's",
        "(`runner/run/schema.py`), which OmegaConf checks as Hydra composes a run's config;",
        "a key without one is an argument of a constructor (`model`, `optim`, `schedule`,",
        "`data.dataset`), checked by it, or one of Hydra's own.",
        "",
    ]
    files = _files(conf)
    if not files:  # fail the build rather than publish an empty reference
        raise SystemExit(f"gen_config_reference: no YAML files under {conf}")
    for path in files:
        rel = path.relative_to(conf).as_posix()
        group = path.parent.relative_to(conf).as_posix()
        title = f"`{rel}`" if group == "." else f"`{group}={path.stem}` (`{rel}`)"
        doc = yaml.load(path.read_text())
        header = _header(doc)
        out += [f"## {title}", ""] + ([" ".join(header), ""] if header else [])
        if not isinstance(doc, CommentedMap) or not doc:
            out += ["(empty)", ""]
            continue
        notes: list[str] = []
        out += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for k, v, c in _rows(doc, notes):
            text = meaning(k, v, c, _dotted(path, conf, k), known)
            kind = schema_type(_dotted(path, conf, k)) if v else ""
            out.append(f"| `{k}` | {kind} | {_cell(v)} | {_cell(text)} |")
        out.append("")
        if notes:
            out += ["Notes in the file:", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(out)


HYDRA_KEYS = {
    "_target_": "the class or function Hydra builds from this node",
    "_partial_": "true: built as a function of what the runner passes at run time (the parameters, the optimizer)",
}
SWEEP_SPEC_FIELDS = {  # the fields of a sweep.figures entry and of sweep.table (runner.sweeps)
    "kind": "the kind of figure: curves | by_setting | ratio",
    "title": "the figure's or table's title",
    "metric": "the metric drawn, or tabulated",
    "x": "the setting along the x axis",
    "log_x": "true: a logarithmic x axis",
    "lines": "one or two settings: the first sets a line's colour, the second its dash",
    "panels": "the setting that makes one panel per value",
    "at_epochs": "the epochs at which the metric is read, a row of panels each",
    "setting": "the setting whose two values the ratio compares",
    "numerator": "the value of that setting on top of the ratio",
    "denominator": "the value below",
    "rows": "the setting whose values make the rows",
    "columns": "the settings whose values make the columns",
    "offset": "shown value = offset + scale × metric",
    "scale": "shown value = offset + scale × metric",
}


def schema_type(dotted: str) -> str:
    """The type the config's schema gives ``dotted``, in words; "" where it gives none."""
    from runner.run.schema import allowed_by, field_type

    declared = field_type(dotted)
    return allowed_by(declared) if declared is not None and declared is not Any else ""


INTERPOLATION = re.compile(r"^\$\{([\w.]+)\}$")


def _load(path: Path) -> CommentedMap | None:
    return YAML().load(path.read_text())


def _files(conf: Path) -> list[Path]:
    """The settings' files: conf/claims/ holds the papers' claims (the papers' pages show
    them), not settings."""
    found = [p for p in conf.rglob("*.yaml") if p.relative_to(conf).parts[0] != "claims"]
    return sorted(found, key=lambda p: (p.parent != conf, p.as_posix()))


def _dotted(path: Path, conf: Path, key: str) -> str:
    """``key`` of ``path`` as a key of the composed config (a group option's keys sit under
    its group unless the file says ``# @package _global_``)."""
    group = path.parent.relative_to(conf).as_posix()
    text = path.read_text()
    if group == "." or "@package _global_" in text or group.startswith("hydra/"):
        return key
    return f"{group.replace('/', '.')}.{key}"


def comments_by_key(conf: Path) -> dict[str, str]:
    """The comment of each key of the composed config, from the first file that gives one."""
    found: dict[str, str] = {}
    for path in _files(conf):
        doc = _load(path)
        if isinstance(doc, CommentedMap):
            for key, _, comment in _rows(doc, []):
                if comment and not key.startswith("defaults"):
                    found.setdefault(_dotted(path, conf, key), comment)
    return found


def meaning(key: str, value: str, comment: str, dotted: str, known: dict[str, str]) -> str:
    """What the reference says of ``key``: its own comment, the comment its definition
    carries elsewhere, or what Hydra's syntax says; "" when none of these."""
    if comment:
        return comment
    leaf = key.rsplit(".", 1)[-1]
    if leaf in HYDRA_KEYS:
        return HYDRA_KEYS[leaf]
    reference = INTERPOLATION.match(value.strip("`"))
    if reference:
        return f"follows `{reference.group(1)}`"
    spec = re.match(r"^sweep\.(?:figures\.[\w-]+|table)\.(\w+)(\..+)?$", key)
    if spec and spec.group(1) in ("labels", "paper"):
        what = "the label shown for" if spec.group(1) == "labels" else "the paper's number for"
        return f"{what} `{(spec.group(2) or '').lstrip('.')}`"
    if spec and spec.group(1) in SWEEP_SPEC_FIELDS:
        return SWEEP_SPEC_FIELDS[spec.group(1)]
    if key.startswith("hydra.help."):
        return "part of the text `python -m runner --help` prints"
    if key.startswith("hydra.sweeper.params."):
        return f"the search space of `{key.removeprefix('hydra.sweeper.params.')}`: Optuna draws it from this"
    if key.startswith("defaults"):
        group = key.partition(": ")[2].replace("override ", "").strip("/") or "the config"
        return (
            f"chooses `{group}={value.strip('`')}`"
            if group != "the config"
            else "this file's own keys, composed here"
        )
    return known.get(dotted, "")


def described_rows(conf: Path):
    """(file, key, default, meaning) of every key; a mapping's own row has no default."""
    known = comments_by_key(conf)
    for path in _files(conf):
        doc = _load(path)
        if not isinstance(doc, CommentedMap):
            continue
        for key, value, comment in _rows(doc, []):
            text = meaning(key, value, comment, _dotted(path, conf, key), known)
            yield path.relative_to(conf).as_posix(), key, value, text


def undescribed(conf: Path) -> list[str]:
    """``file: key`` of every setting the reference would list without a meaning."""
    return [
        f"{file}: {key}" for file, key, value, text in described_rows(conf)
        if value and not text
    ]  # fmt: skip
