"""Griffe extension: Sphinx roles in docstrings (:func:`name`) become mkdocstrings links.

Our docstrings are prose with ``double backticks`` (already code in Markdown) and Sphinx roles
such as :func:`read_metrics`, :meth:`Lock.acquire`, :class:`~pkg.module.Lock`. mkdocstrings
does not know roles and prints ":func:" literally. This extension rewrites each role, once the
package is loaded, into an *optional* autorefs link to the object the name resolves to from the
docstring's scope; a name that does not resolve (an external ``torch.compile``, a private
helper left out of the pages) stays plain code, so ``mkdocs build --strict`` never fails on it.

Enable it in mkdocs.yml::

    plugins:
      - mkdocstrings:
          handlers:
            python:
              options:
                extensions:
                  - docs/griffe_sphinx_roles.py
"""

from __future__ import annotations

import html
import re

import griffe

ROLE = re.compile(
    r":(?:py:)?(?:func|meth|class|attr|mod|data|exc|obj|const|type):`(~?)([\w.]+)(?:\(\))?`"
)

logger = griffe.get_logger(__name__)


def _resolve(obj: griffe.Object, name: str) -> str | None:
    """The full path ``name`` stands for in the scope of ``obj``, or None."""
    head, _, rest = name.partition(".")
    try:
        path = obj.resolve(head)
    except (griffe.NameResolutionError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        try:  # an absolute path: pkg.module.name
            obj.modules_collection[name]
            return name
        except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
    return f"{path}.{rest}" if rest else path


class SphinxRoles(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring and ":" in obj.docstring.value:
                obj.docstring.value = ROLE.sub(
                    lambda m, scope=obj: self._link(scope, m), obj.docstring.value
                )
            stack.extend(member for member in obj.members.values() if not member.is_alias)

    @staticmethod
    def _link(obj: griffe.Object, match: re.Match) -> str:
        short, name = match.groups()
        title = name.rsplit(".", 1)[-1] if short else name
        code = f"<code>{html.escape(title)}</code>"
        path = _resolve(obj, name)
        if path is None:
            return f"`{title}`"
        return f'<autoref optional identifier="{html.escape(path)}">{code}</autoref>'
