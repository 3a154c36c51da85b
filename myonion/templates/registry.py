"""Where templates are found: a folder with ``template.yaml`` in the built-in directory or the
user's templates directory (a user's template of the same id overrides a built-in one), so adding
a template is adding a folder. And the ``-o KEY=VALUE`` pairs of the command line.
"""

from __future__ import annotations

from pathlib import Path

from myonion import paths
from myonion.errors import OptionError, TemplateError
from myonion.templates.manifest import load_template
from myonion.templates.spec import TemplateSpec

__all__ = ["TemplateRegistry", "parse_option_args"]


class TemplateRegistry:
    """Every template found in the built-in and the user directories (user ones may override)."""

    def __init__(self, dirs: list[tuple[Path, bool]] | None = None) -> None:
        if dirs is None:
            dirs = [(paths.builtin_templates_dir(), True), (paths.user_templates_dir(), False)]
        self.dirs = dirs

    def _folders(self) -> dict[str, tuple[Path, bool]]:
        found: dict[str, tuple[Path, bool]] = {}
        for root, builtin in self.dirs:
            if root.is_dir():
                for manifest in sorted(root.glob("*/template.yaml")):
                    found[manifest.parent.name] = (manifest.parent, builtin)
        return found

    def ids(self) -> list[str]:
        return sorted(self._folders())

    def all(self) -> list[TemplateSpec]:
        return [load_template(folder, builtin) for folder, builtin in self._folders().values()]

    def get(self, template_id: str) -> TemplateSpec:
        folders = self._folders()
        if template_id not in folders:
            raise TemplateError(
                f"There is no template '{template_id}'.",
                hint=f"Templates: {', '.join(sorted(folders)) or 'none'}.",
            )
        folder, builtin = folders[template_id]
        return load_template(folder, builtin)


def parse_option_args(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Turn CLI ``-o key=value`` pairs into a dict, rejecting malformed ones."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise OptionError(
                f"'-o {pair}' is not of the form KEY=VALUE.", hint="For example: -o dir=./site"
            )
        result[key.strip()] = value
    return result
