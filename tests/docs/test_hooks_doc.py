"""docs/hooks.md documents every hook with its exact signature, and says which are firstresult.

Core hooks must be in docs/hooks.md; a plugin's own hooks (its ``hookspecs`` module) in
docs/hooks.md or docs/plugins/<plugin>.md. A signature is a python code block holding an
undecorated ``def <hook>(...) -> ...: ...``; parameter names (and annotations, where the
spec has them as text) must equal the spec's.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cultiveat_core import Settings, create_crm
from cultiveat_core import hookspecs as core_hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs"
HOOKS_MD = DOCS / "hooks.md"
PLUGIN_SECTION = "## Hooks declared by plugins"
SPEC_MARK = "cultiveat_spec"


def spec_functions(module: ModuleType) -> dict[str, Callable[..., Any]]:
    return {name: f for name, f in vars(module).items() if callable(f) and hasattr(f, SPEC_MARK)}


def python_blocks(text: str) -> Iterator[str]:
    yield from re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def documented_signatures(text: str) -> dict[str, ast.FunctionDef]:
    """Undecorated ``def name(...): ...`` declarations in the python blocks of ``text``."""
    found: dict[str, ast.FunctionDef] = {}
    for block in python_blocks(text):
        try:
            tree = ast.parse(block)
        except SyntaxError:
            continue
        for node in tree.body:
            is_declaration = (
                isinstance(node, ast.FunctionDef)
                and not node.decorator_list
                and len(node.body) == 1
                and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Constant)
                and node.body[0].value.value is Ellipsis
            )
            if is_declaration:
                found.setdefault(node.name, node)
    return found


def _text(annotation: Any) -> str | None:
    """An annotation written as text, normalised; None when absent or not text."""
    if annotation is inspect.Parameter.empty or not isinstance(annotation, str):
        return None
    return ast.unparse(ast.parse(annotation, mode="eval"))


def differences(spec: Callable[..., Any], documented: ast.FunctionDef) -> list[str]:
    signature = inspect.signature(spec)
    real = [(p.name, _text(p.annotation)) for p in signature.parameters.values()]
    args = [*documented.args.posonlyargs, *documented.args.args, *documented.args.kwonlyargs]
    doc = [(a.arg, ast.unparse(a.annotation) if a.annotation else None) for a in args]
    problems = []
    if [n for n, _ in real] != [n for n, _ in doc]:
        problems.append(f"parameters are {[n for n, _ in real]}, the docs say {[n for n, _ in doc]}")
    else:
        for (name, real_ann), (_, doc_ann) in zip(real, doc, strict=True):
            if real_ann is not None and real_ann != doc_ann:
                problems.append(f"parameter {name} is annotated {real_ann}, the docs say {doc_ann}")
    real_return = _text(signature.return_annotation)
    doc_return = ast.unparse(documented.returns) if documented.returns else None
    if real_return is not None and real_return != doc_return:
        problems.append(f"returns {real_return}, the docs say {doc_return}")
    return problems


def section(text: str, hook: str) -> str:
    """The text under the heading of ``hook`` down to the next heading."""
    match = re.search(rf"^#+ `{hook}`\n(.*?)(?=^#+ |\Z)", text, flags=re.DOTALL | re.MULTILINE)
    return match.group(1) if match else ""


def declaration(name: str, spec: Callable[..., Any]) -> str:
    """The line to paste into the docs: ``def name(crm: CRM, ...) -> None: ...``."""
    signature = inspect.signature(spec)
    params = ", ".join(
        f"{p.name}: {_text(p.annotation)}" if _text(p.annotation) else p.name
        for p in signature.parameters.values()
    )
    returns = _text(signature.return_annotation)
    return f"def {name}({params})" + (f" -> {returns}" if returns else "") + ": ..."


def check_hook(name: str, spec: Callable[..., Any], text: str, where: str) -> list[str]:
    documented = documented_signatures(text).get(name)
    if documented is None:
        return [f"{name}: missing from {where} (add a `### `{name}`` section with "
                f"`{declaration(name, spec)}`)"]
    problems = [f"{name}: {p}" for p in differences(spec, documented)]
    firstresult = bool(getattr(spec, SPEC_MARK).get("firstresult"))
    says_firstresult = "firstresult" in section(text, name)
    if firstresult != says_firstresult:
        problems.append(f"{name}: is {'' if firstresult else 'not '}firstresult, "
                        f"its section in {where} should {'' if firstresult else 'not '}say so")
    return problems


CORE_SPECS = spec_functions(core_hookspecs)


@pytest.fixture(scope="module")
def hooks_doc() -> str:
    return HOOKS_MD.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(CORE_SPECS))
def test_core_hook_is_documented_with_its_signature(name: str, hooks_doc: str) -> None:
    core_part = hooks_doc.split(PLUGIN_SECTION)[0]
    assert check_hook(name, CORE_SPECS[name], core_part, "docs/hooks.md") == []


def test_the_core_part_documents_only_existing_hooks(hooks_doc: str) -> None:
    core_part = hooks_doc.split(PLUGIN_SECTION)[0]
    stale = sorted(set(documented_signatures(core_part)) - set(CORE_SPECS))
    assert stale == [], f"docs/hooks.md documents hooks the core does not declare: {stale}"


def installed_plugin_specs() -> dict[str, dict[str, Callable[..., Any]]]:
    """{plugin name: its hookspecs} for every plugin installed in this environment."""
    crm = create_crm(Settings(database_url="sqlite://"), load_entrypoints=True)
    try:
        found: dict[str, dict[str, Callable[..., Any]]] = {}
        for name, plugin in crm.pm.list_name_plugin():
            module = getattr(plugin, "hookspecs", None)
            if isinstance(module, ModuleType) and module is not core_hookspecs:
                found[name] = spec_functions(module)
        return found
    finally:
        crm.close()


def test_every_installed_plugins_hooks_are_documented(hooks_doc: str) -> None:
    problems: list[str] = []
    for plugin, specs in sorted(installed_plugin_specs().items()):
        own_page = DOCS / "plugins" / f"{plugin}.md"
        text = hooks_doc + "\n" + (own_page.read_text(encoding="utf-8") if own_page.exists() else "")
        where = f"docs/hooks.md or docs/plugins/{plugin}.md"
        for name, spec in sorted(specs.items()):
            problems += [f"plugin {plugin}: {p}" for p in check_hook(name, spec, text, where)]
    assert problems == [], "\n".join(problems)


def test_the_checker_catches_a_wrong_signature() -> None:
    text = "### `contact_created`\n\n```python\ndef contact_created(crm: CRM, person: Contact) -> None: ...\n```\n"
    assert check_hook("contact_created", CORE_SPECS["contact_created"], text, "x") == [
        "contact_created: parameters are ['crm', 'contact'], the docs say ['crm', 'person']"
    ]


def test_the_checker_catches_a_missing_hook_and_a_wrong_kind() -> None:
    assert check_hook("contact_created", CORE_SPECS["contact_created"], "", "x")[0].startswith(
        "contact_created: missing from x"
    )
    text = ("### `actor_from_request`\n\nA decision.\n\n```python\n"
            "def actor_from_request(crm: CRM, request: Any) -> Any: ...\n```\n")
    assert check_hook("actor_from_request", CORE_SPECS["actor_from_request"], text, "x") == [
        "actor_from_request: is firstresult, its section in x should say so"
    ]


def test_every_python_block_of_the_page_is_valid_python(hooks_doc: str) -> None:
    broken = []
    for block in python_blocks(hooks_doc):
        try:
            ast.parse(block)
        except SyntaxError as exc:
            broken.append(f"line {exc.lineno} of:\n{block}")
    assert broken == [], "\n\n".join(broken)
