"""Write the node help pages ComfyUI's frontend shows (node library, the node's "?" help): one Markdown page per
node, ``nodes/web/docs/<node id>.md``, from the nodes' own schemas, so that the pages and the nodes agree.

    python tests/update_node_docs.py

tests/test_package.py fails when a page differs from what this writes.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "nodes" / "web" / "docs"
STAND_IN = Path(__file__).resolve().parent / "comfy_stand_in"
# lists of the user's files: their first entry is no default worth stating
FILE_CHOICES = {"model", "video", "file"}


def node_schemas() -> list:
    """The pack's node schemas, imported through the ComfyUI stand-in (no ComfyUI needed)."""
    sys.path.insert(0, str(STAND_IN))
    spec = importlib.util.spec_from_file_location(
        "vcast_docs", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    pack = importlib.util.module_from_spec(spec)
    sys.modules["vcast_docs"] = pack
    spec.loader.exec_module(pack)
    import folder_paths

    with tempfile.TemporaryDirectory() as home:
        folder_paths.use_base(home)
        nodes = asyncio.run(asyncio.run(pack.comfy_entrypoint()).get_node_list())
        return [node.define_schema() for node in nodes]


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _input(item) -> str:
    facts = [item.io_type.lower()]
    if item.optional:
        facts.append("optional")
    if item.id not in FILE_CHOICES and item.default is not None:
        facts.append(f"default `{item.default}`")
    return f"- **{item.id}** ({', '.join(facts)}): {_one_line(item.tooltip)}"


def page(schema) -> str:
    """A list rather than a table: the help panel is narrow."""
    lines = [f"# {schema.display_name}", "", _one_line(schema.description), "", "## Inputs", ""]
    lines += [_input(item) for item in schema.inputs]
    lines += ["", "## Outputs", ""]
    lines += [f"- **{item.display_name}** ({item.io_type.lower()})" for item in schema.outputs]
    lines += ["", "Part of the V-CAST node pack; its README explains the whole pipeline and the example workflows.", ""]
    return "\n".join(lines)


def pages() -> dict[str, str]:
    return {f"{schema.node_id}.md": page(schema) for schema in node_schemas()}


def main() -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    written = pages()
    for stale in set(path.name for path in DOCS.glob("*.md")) - set(written):
        (DOCS / stale).unlink()
    for name, text in written.items():
        (DOCS / name).write_text(text)
    print(f"{len(written)} node pages written to {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
