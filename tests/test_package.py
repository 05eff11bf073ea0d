import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_vcast_core_imports_without_comfyui_transformers_or_ray():
    code = (
        "import sys, vcast_core, vcast_core.batch; "
        "loaded = {m.split('.')[0] for m in sys.modules}; "
        "print(sorted(loaded & {'comfy', 'comfy_api', 'folder_paths', 'transformers', 'ray'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_registry_metadata_is_complete():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["name"] and project["project"]["version"]
    assert project["project"]["urls"]["Repository"].startswith("https://")
    comfy = project["tool"]["comfy"]
    assert {"PublisherId", "DisplayName", "Icon", "requires-comfyui"} <= set(comfy)
    assert comfy["Icon"].endswith("/docs/images/icon.png") and (ROOT / "docs" / "images" / "icon.png").is_file()
    assert (ROOT / project["project"]["license"]["file"]).is_file()


def test_every_node_has_a_current_help_page():
    """nodes/web/docs/<node id>.md, as tests/update_node_docs.py writes them from the nodes' schemas (run it after
    changing a node)."""
    code = "import json, update_node_docs; print(json.dumps(update_node_docs.pages()))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "tests", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    expected = json.loads(result.stdout)
    on_disk = {path.name: path.read_text() for path in (ROOT / "nodes" / "web" / "docs").glob("*.md")}
    assert len(expected) == 19 and on_disk == expected, "run python tests/update_node_docs.py"


def test_ci_runs_the_readme_commands_verbatim():
    """The lines after each '# README: ' comment in .ci/run are the README's set-up commands."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    blocks = ci.split("# README: ")[1:]
    assert len(blocks) == 2
    for block in blocks:
        command = block.splitlines()[1]
        assert f"\n{command}\n" in readme


def test_policy_api_example_runs():
    page = (ROOT / "docs" / "api.md").read_text()
    blocks = [block.split("```", 1)[0] for block in page.split("```python\n")[1:]]
    example = next(block for block in blocks if "allocate_budget" in block)  # the policy example runs as is
    result = subprocess.run([sys.executable, "-c", example], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(" 128")


def test_one_version_everywhere():
    """pyproject.toml (the registry reads it), the package, the README and the changelog's newest entry agree."""
    import re

    import vcast_core

    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    assert vcast_core.__version__ == version
    assert f"Version {version} (" in (ROOT / "README.md").read_text()
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.findall(r"^## (\S+) \(", changelog, re.MULTILINE)[0] == version


def test_every_docs_link_resolves():
    """Relative links in README.md and docs/*.md point at files that exist."""
    import re

    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(<?([^)>#]+)>?\)", page.read_text()):
            if not target.startswith("http"):
                assert (page.parent / target).exists(), f"{page.name} links to {target}"
