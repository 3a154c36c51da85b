"""Templates: a folder with ``template.yaml``, ``Dockerfile.j2``, ``torrc.j2`` and files.

One module per job:

- :mod:`~myonion.templates.spec` — what a template is (options, ports, ...), and checking the
  options a user gives against it, before anything is built;
- :mod:`~myonion.templates.formats` — the named checks of values (``format:``);
- :mod:`~myonion.templates.manifest` — reading ``template.yaml`` (its JSON Schema,
  ``template.schema.json``, and the rules between fields);
- :mod:`~myonion.templates.registry` — finding templates (a folder each).
"""

from myonion.templates.formats import FORMATS, shown, whole_number
from myonion.templates.manifest import ManifestError, load_template
from myonion.templates.registry import TemplateRegistry, parse_option_args
from myonion.templates.spec import (
    COMMON_OPTIONS,
    HIDDEN,
    INTRO_DOS_MAX,
    LAYERS,
    OPTION_TYPES,
    MountSpec,
    OptionSpec,
    PortSpec,
    PublishSpec,
    TemplateSpec,
    VolumeSpec,
)

__all__ = [
    "COMMON_OPTIONS",
    "FORMATS",
    "HIDDEN",
    "INTRO_DOS_MAX",
    "LAYERS",
    "OPTION_TYPES",
    "ManifestError",
    "MountSpec",
    "OptionSpec",
    "PortSpec",
    "PublishSpec",
    "TemplateRegistry",
    "TemplateSpec",
    "VolumeSpec",
    "load_template",
    "parse_option_args",
    "shown",
    "whole_number",
]
