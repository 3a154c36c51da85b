"""The deployment file's shape: its YAML read with the line of every field, and checked
against the published JSON Schema (``myonion.schema.json``, beside this module and in docs/),
with myonion's own messages for what it refuses.

The schema is what an editor checks ``myonion.yaml`` with as it is typed. Each refusal myonion
reports is worded by the schema's ``x-messages`` (keyword → message) at the field it concerns;
a keyword without one is the editor's alone, and :mod:`.file` checks that value itself (a
template's options, durations, client names, addresses).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from myonion import safeyaml
from myonion.deploy.model import Problem

SCHEMA_FILE = Path(__file__).with_name("myonion.schema.json")


@cache
def schema() -> dict[str, Any]:
    """The deployment file's JSON Schema."""
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return loaded


def _field(parts: Any) -> str:
    """A JSON path (deque of keys and indexes) as the checker writes it: a.b[1].c"""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def refusals(data: Any, templates: list[str]) -> Iterator[tuple[str, str]]:
    """(field, message) for each way ``data`` does not have the file's shape, in myonion's
    words; ``templates``: the ids a missing template is one of."""
    import jsonschema  # here: most commands never read a deployment file

    validator = jsonschema.Draft202012Validator(schema())
    for error in validator.iter_errors(data):
        messages: dict[str, str] = error.schema.get("x-messages", {}) \
            if isinstance(error.schema, dict) else {}
        where = _field(error.absolute_path)
        keyword = str(error.validator)
        if "propertyNames" in error.absolute_schema_path:
            where = f"{where}.{error.instance}" if where else str(error.instance)
        if keyword == "additionalProperties" and keyword in messages:
            known = list(error.schema.get("properties", {}))
            for key in error.instance:
                if key not in known:
                    yield (f"{where}.{key}" if where else str(key),
                           messages[keyword].format(fields=", ".join(known)))
        elif keyword == "required":
            for key in error.validator_value:
                if isinstance(error.instance, dict) and key not in error.instance:
                    yield from _required(error.schema.get("properties", {}).get(key, {}),
                                         where, key, templates)
        elif keyword in messages:
            yield where, messages[keyword].format(value=error.instance)


def _required(schema_of: dict[str, Any], where: str, key: str, templates: list[str]
              ) -> Iterator[tuple[str, str]]:
    messages = schema_of.get("x-messages", {})
    if "required@parent" in messages:
        yield where, messages["required@parent"].format(templates=", ".join(templates))
    elif "required" in messages:
        yield f"{where}.{key}" if where else key, messages["required"]


def parse(text: str, file: str) -> tuple[Any, dict[str, int], list[Problem]]:
    """YAML → plain data, the line of every field ("services.blog.options.dir" → 7), and the
    problems found on the way (duplicate keys, which PyYAML would silently merge). Read with
    :class:`safeyaml.BoundedLoader`: anchors, aliases, deep nesting and too many values are
    refused before anything is built."""
    try:
        loader = safeyaml.BoundedLoader(text)
    except yaml.YAMLError as e:  # a character YAML does not allow (control characters)
        return None, {}, [Problem(file, 0, "", f"this is not valid YAML: {e}")]
    try:
        node = loader.get_single_node()
    except safeyaml.Refused as e:
        line = e.problem_mark.line + 1 if e.problem_mark else 0
        return None, {}, [Problem(file, line, "", str(e.problem))]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        message = f"this is not valid YAML: {e.problem}"
        if e.context and e.context_mark and e.context_mark.line + 1 != line:
            # found far from its cause (an unclosed quote at the end of the file): name both
            message += f" ({e.context} from line {e.context_mark.line + 1})"
        return None, {}, [Problem(file, line, "", message)]
    except yaml.YAMLError as e:
        return None, {}, [Problem(file, 0, "", f"this is not valid YAML: {e}")]
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    problems: list[Problem] = []

    def walk(node: yaml.Node, path: str) -> Any:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                if isinstance(key, list | dict):  # "? [a, b]": YAML allows it, we do not
                    problems.append(Problem(file, key_node.start_mark.line + 1, path,
                                            "has a key that is a list or a mapping"))
                    continue
                sub = f"{path}.{key}" if path else str(key)
                if key in result:
                    problems.append(Problem(file, key_node.start_mark.line + 1, sub,
                                            "is given twice"))
                lines[sub] = key_node.start_mark.line + 1
                result[key] = walk(value_node, sub)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [walk(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        return loader.construct_object(node, deep=True)

    if node is None:
        return None, {}, []
    try:
        return walk(node, ""), lines, problems
    except yaml.YAMLError as e:
        return None, lines, [Problem(file, 0, "", f"this is not valid YAML: {e}")]



