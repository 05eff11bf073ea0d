"""The example workflows in ComfyUI's own frontend, in Chromium, as a user meets them.

ComfyUI 0.3.64 and its frontend (comfyui-frontend-package 1.27.10), with this pack in custom_nodes, a
tiny random checkpoint and clip.mp4 (tests/comfyui_server.py). For every workflow in workflows/, opened
by dropping the file on the canvas and again from the template browser: each widget holds the value
the file means, by name, with the type and range of a freshly created node; the graph the frontend
saves equals the file; with the tiny checkpoint picked in Load VideoLLM, Run ends without an error; the
previews (sampled frames, budget chart, kept patches) and the text results (answer, stats, token-set
summary, saved file) are shown in their nodes; no two nodes overlap. Screenshots of each finished
workflow go to $VCAST_SCREENSHOTS (tests/update_pictures.py turns them into the README pictures and
the template thumbnails), or to a temporary folder.

Needs COMFYUI_PATH (with ComfyUI's requirements installed in this Python), Playwright from PyPI and a
Chromium (Debian's /usr/bin/chromium, or $VCAST_CHROMIUM; never `playwright install`). CI sets
VCAST_REQUIRE_COMFYUI, so that there a missing piece fails instead of skipping.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from comfyui_server import PACK_FOLDER, TINY_MODEL
from conftest import required_or_skip
from workflow_api import VIRTUAL_NODES, widget_names, widget_values

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))
CHROMIUM = os.environ.get("VCAST_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1920, "height": 1080}
RUN_SECONDS = 300
USERS_FILES = {"model", "file"}  # lists of what the user has: a shipped workflow may name what is not there yet
CHROMIUM_FLAGS = [  # what this machine's closed network and a root user need
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# a node's widgets as the frontend holds them, and the same of a node of each type created afresh
WIDGETS = """() => {
  const describe = (node) => (node.widgets ?? []).filter((w) => w.serialize !== false).map((w) => ({
    name: w.name, type: w.type, value: w.value,
    options: {min: w.options?.min ?? null, max: w.options?.max ?? null, values: w.options?.values ?? null},
  }));
  const fresh = {};
  for (const node of app.graph.nodes) fresh[node.type] ??= describe(LiteGraph.createNode(node.type));
  return {loaded: app.graph.nodes.map((node) => ({id: node.id, type: node.type, widgets: describe(node)})), fresh};
}"""
BOXES = """() => app.graph.nodes.map((node) => [node.id, node.type, [...node.boundingRect]])"""
PREVIEWS = """() => Object.fromEntries(app.graph.nodes.filter((node) => node.imgs?.length).map((node) =>
  [node.id, node.imgs.map((img) => img.complete ? img.naturalWidth : 0)]))"""
WIDGET_CENTRE = """([id, name]) => {
  const node = app.graph.getNodeById(id);
  const widget = node.widgets.find((w) => w.name === name);
  const middle = widget.y + (widget.computedHeight ?? LiteGraph.NODE_WIDGET_HEIGHT) / 2;
  const [x, y] = app.canvas.ds.convertOffsetToCanvas([node.pos[0] + node.size[0] / 2, node.pos[1] + middle]);
  const box = app.canvas.canvas.getBoundingClientRect();
  return [box.left + x / (window.devicePixelRatio || 1), box.top + y / (window.devicePixelRatio || 1)];
}"""
LISTEN = """() => {
  window.vcastRun = {status: null, cached: [], errors: []};
  app.api.addEventListener("execution_start", () => Object.assign(window.vcastRun, {status: "running"}));
  app.api.addEventListener("execution_cached", (event) => window.vcastRun.cached.push(...event.detail.nodes));
  app.api.addEventListener("execution_success", () => { window.vcastRun.status = "success"; });
  app.api.addEventListener("execution_error", (event) => {
    window.vcastRun.status = "error";
    window.vcastRun.errors.push(event.detail);
  });
}"""


def load_file(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def page(comfyui, tmp_path_factory):
    """One browser page on the running ComfyUI, as a user keeps one open; the minimap closed."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        required_or_skip("VCAST_REQUIRE_COMFYUI", "playwright is not installed", "pip install playwright")
    if not Path(CHROMIUM).exists():
        required_or_skip("VCAST_REQUIRE_COMFYUI", f"no Chromium at {CHROMIUM}", "apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.console_errors = []
        page.on("pageerror", lambda error: page.console_errors.append(f"{error}\n{error.stack}"))
        page.goto(comfyui.url)
        page.wait_for_function("window.app?.graph && window.app.canvas && document.querySelector('#graph-canvas')")
        page.evaluate(LISTEN)
        first_visit = page.locator("[role=dialog]")  # a new user gets the template browser: close it as they would
        first_visit.wait_for(state="visible", timeout=20_000)
        page.keyboard.press("Escape")
        first_visit.wait_for(state="detached")
        page.locator("[data-testid=close-minmap-button]").click()  # it would cover the bottom right of a graph
        # 1.27.10 itself throws once while it registers its settings (Comfy.Canvas.NavigationMode); not ours
        assert not [error for error in page.console_errors if PACK_FOLDER in error], page.console_errors
        page.console_errors.clear()
        yield page
        browser.close()


@pytest.fixture(scope="module")
def info(comfyui):
    return comfyui.get("/object_info")


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("VCAST_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def drop_on_canvas(page, path: Path) -> None:
    """What a user does with a workflow file: drag it from the file manager onto the canvas."""
    files = page.evaluate_handle(
        """([name, text]) => {
          const data = new DataTransfer();
          data.items.add(new File([text], name, {type: "application/json"}));
          return data;
        }""",
        [path.name, path.read_text()],
    )
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event("#graph-canvas", event, {"dataTransfer": files})


def wait_for_graph(page, workflow: dict) -> None:
    page.wait_for_function(
        "ids => app.graph.nodes.map((n) => n.id).sort((a, b) => a - b).join() === ids.join()",
        arg=sorted(node["id"] for node in workflow["nodes"]),
    )


def check_widgets(page, workflow: dict, info: dict) -> None:
    """Every widget holds the value the file means, by name, with a fresh node's type, options and range."""
    state = page.evaluate(WIDGETS)
    by_id = {node["id"]: node for node in workflow["nodes"]}
    assert sorted(node["id"] for node in state["loaded"]) == sorted(by_id)
    for node in state["loaded"]:
        written = by_id[node["id"]]
        names = [widget["name"] for widget in node["widgets"]]
        assert names == [widget["name"] for widget in state["fresh"][node["type"]]], node["type"]
        if node["type"] in VIRTUAL_NODES:
            assert [widget["value"] for widget in node["widgets"]] == written["widgets_values"]
            continue
        meant = widget_values(written, info[node["type"]])
        assert names == widget_names(info[node["type"]]) == list(meant), f"{node['type']}: the frontend's order"
        fresh = {widget["name"]: widget for widget in state["fresh"][node["type"]]}
        for widget in node["widgets"]:
            name, value, options = widget["name"], widget["value"], widget["options"]
            where = f"node {node['id']} ({node['type']}) widget {name}"
            assert (widget["type"], options) == (fresh[name]["type"], fresh[name]["options"]), where
            assert value == meant[name], f"{where}: {value!r}, the file means {meant[name]!r}"
            if options["values"] is not None and name not in USERS_FILES:
                assert value in options["values"], where
            if options["min"] is not None and isinstance(value, int | float):
                assert options["min"] <= value <= options["max"], where


def check_saved_graph(page, workflow: dict, info: dict) -> None:
    """The graph the frontend serialises after loading has the file's nodes, links and widgets by name."""
    saved = json.loads(page.evaluate("() => JSON.stringify(app.graph.serialize())"))
    nodes = {node["id"]: node for node in saved["nodes"]}
    for written in workflow["nodes"]:
        node = nodes[written["id"]]
        assert (node["type"], node["pos"]) == (written["type"], written["pos"])
        if written["type"] in VIRTUAL_NODES:
            assert node["widgets_values"] == written["widgets_values"]
        else:
            definition = info[written["type"]]
            assert widget_values(node, definition) == widget_values(written, definition)
    assert sorted(saved["links"]) == sorted(workflow["links"])


def pick_in_combo(page, node_id: int, widget: str, value: str) -> None:
    """Click the combo widget on the canvas and the entry in the menu it opens, as a user picks a model."""
    x, y = page.evaluate(WIDGET_CENTRE, [node_id, widget])
    page.mouse.click(x, y)
    page.locator(".litecontextmenu .litemenu-entry", has_text=value).first.click()
    value_now = "([id, name]) => app.graph.getNodeById(id).widgets.find((w) => w.name === name).value"
    assert page.evaluate(value_now, [node_id, widget]) == value


def run(page) -> dict:
    """Press Run and wait for the end; returns what the server reported."""
    page.evaluate("() => Object.assign(window.vcastRun, {status: 'queued', cached: [], errors: []})")
    page.locator("[data-testid=queue-button] button", has_text="Run").first.click()
    page.wait_for_function("['success', 'error'].includes(window.vcastRun.status)", timeout=RUN_SECONDS * 1000)
    return page.evaluate("() => window.vcastRun")


def check_results(page, workflow: dict) -> None:
    """No error anywhere; previews loaded in their nodes; the text results visible in the page's DOM."""
    assert page.evaluate("() => app.lastNodeErrors") in (None, {})
    assert page.evaluate("() => app.lastExecutionError") is None
    assert page.locator(".p-toast-message-error").count() == 0
    assert page.locator("[role=dialog]").count() == 0, page.locator("[role=dialog]").first.inner_text()
    types = {node["id"]: node["type"] for node in workflow["nodes"]}
    expected = {node_id for node_id, kind in types.items() if has_preview(workflow, node_id, kind)}
    page.wait_for_function(
        f"""() => {{
          const previews = ({PREVIEWS})();
          return {json.dumps(sorted(expected))}.every((id) => previews[id]?.length && previews[id].every((w) => w > 0));
        }}"""
    )
    previews = {int(node_id): widths for node_id, widths in page.evaluate(PREVIEWS).items()}
    sampled = len(previews[next(i for i in expected if types[i].endswith("Selector"))])
    assert sampled == 16  # clip.mp4: 8 s at 2 frames per second
    for node_id in expected:
        if types[node_id].endswith("Allocator"):
            assert previews[node_id] == [640]  # one chart, at least 512 wide
        elif types[node_id].endswith("Selector"):
            assert previews[node_id] == [512] * sampled  # every sampled frame, with its title line
        else:
            assert len(previews[node_id]) == sampled
    for kind, box, must_hold in [
        ("VCast_PrefillGenerate", "answer", ""),
        ("VCast_PrefillGenerate", "stats", "video tokens kept:"),
        ("VCast_TokenSetInfo", "summary", "kept "),
        ("VCast_SaveTokenSet", "saved file", "in ComfyUI's output folder"),
    ]:
        boxes = page.locator(f"textarea[data-vcast-result='{kind}/{box}']")
        assert boxes.count() == sum(node["type"] == kind for node in workflow["nodes"])
        for index in range(boxes.count()):
            assert boxes.nth(index).is_visible(), f"{kind} {box}"
            assert boxes.nth(index).input_value().strip() and must_hold in boxes.nth(index).input_value()
    for stats in page.locator("textarea[data-vcast-result='VCast_PrefillGenerate/stats']").all():
        text = stats.input_value()
        assert all(word in text for word in ("encode", "policy", "prefill", "decode", "tokens/s", "peak memory"))


def has_preview(workflow: dict, node_id: int, kind: str) -> bool:
    """Allocators, core Preview Image, and selectors given the clip show images."""
    if kind.endswith("Allocator") or kind == "PreviewImage":
        return True
    node = next(node for node in workflow["nodes"] if node["id"] == node_id)
    clip = any(socket["name"] == "clip" and socket["link"] is not None for socket in node.get("inputs", []))
    return kind.endswith("Selector") and clip


def check_no_overlap(page) -> None:
    boxes = page.evaluate(BOXES)
    for index, (first, first_type, (x, y, w, h)) in enumerate(boxes):
        for second, second_type, (u, v, s, t) in boxes[index + 1 :]:
            overlap = x < u + s and u < x + w and y < v + t and v < y + h
            assert not overlap, f"node {first} ({first_type}) overlaps node {second} ({second_type})"


def model_loader(workflow: dict) -> int:
    return next(node["id"] for node in workflow["nodes"] if node["type"] == "VCast_LoadVideoLLM")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_a_dropped_workflow_loads_runs_and_shows_its_results(page, info, screenshots, path):
    workflow = load_file(path)
    drop_on_canvas(page, path)
    wait_for_graph(page, workflow)
    check_widgets(page, workflow, info)
    check_saved_graph(page, workflow, info)
    check_no_overlap(page)
    pick_in_combo(page, model_loader(workflow), "model", TINY_MODEL)
    result = run(page)
    assert result["status"] == "success", result["errors"]
    check_results(page, workflow)
    check_no_overlap(page)
    assert not page.console_errors
    page.screenshot(path=screenshots / f"{path.stem}.png")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_the_template_browser_shows_and_opens_each_workflow(page, info, path):
    workflow = load_file(path)
    page.get_by_role("button", name="Templates").first.click()
    try:
        page.get_by_text(PACK_FOLDER, exact=True).first.click()
        card = page.locator(f"[data-testid='template-workflow-{path.stem}']")
        assert card.locator("h3").inner_text() == path.stem  # this frontend titles a pack's templates by file name
        assert card.locator("p").inner_text() == path.stem
        thumbnail = card.locator("img")
        thumbnail.wait_for(state="visible")
        assert thumbnail.evaluate("img => img.complete && img.naturalWidth") > 0, "no thumbnail"
        card.click()
    finally:
        if page.locator("[role=dialog]").count():
            page.keyboard.press("Escape")
    wait_for_graph(page, workflow)
    assert page.locator("[role=dialog]").count() == 0
    check_widgets(page, workflow, info)
    pick_in_combo(page, model_loader(workflow), "model", TINY_MODEL)
    result = run(page)
    assert result["status"] == "success", result["errors"]
    check_results(page, workflow)


def test_previews_and_text_stay_when_comfyui_serves_every_node_from_its_cache(page, info):
    path = ROOT / "workflows" / "Video question answering with token pruning.json"
    workflow = load_file(path)
    for _ in range(2):  # the second run computes nothing: ComfyUI answers every node from its cache
        drop_on_canvas(page, path)
        wait_for_graph(page, workflow)
        pick_in_combo(page, model_loader(workflow), "model", TINY_MODEL)
        result = run(page)
        assert result["status"] == "success", result["errors"]
    runnable = [str(node["id"]) for node in workflow["nodes"] if node["type"] not in VIRTUAL_NODES]
    assert sorted(result["cached"]) == sorted(runnable)
    check_results(page, workflow)


def test_the_frontend_lays_out_widgets_by_the_rule_the_converter_uses(page, info):
    """Every node of the pack, created afresh: its serialised widgets are the ones workflow_api expects."""
    serialised = page.evaluate(
        """(types) => Object.fromEntries(types.map((type) => {
          const node = LiteGraph.createNode(type);
          return [type, (node.widgets ?? []).filter((w) => w.serialize !== false).map((w) => w.name)];
        }))""",
        sorted(name for name in info if name.startswith("VCast_")),
    )
    assert len(serialised) == 19
    for node_type, names in serialised.items():
        assert names == widget_names(info[node_type]), node_type


TITLE_CENTRE = """(id) => {
  const node = app.graph.getNodeById(id);
  const [x, y] = app.canvas.ds.convertOffsetToCanvas([node.pos[0] + node.size[0] / 2, node.pos[1] - 15]);
  const box = app.canvas.canvas.getBoundingClientRect();
  return [box.left + x / (window.devicePixelRatio || 1), box.top + y / (window.devicePixelRatio || 1)];
}"""


def test_a_nodes_help_shows_its_page(page, info):
    """Select a node, press the info button of the selection toolbox: the help panel renders the pack's page."""
    node_id = page.evaluate(
        """() => {
          app.graph.clear();
          const node = LiteGraph.createNode("VCast_ImagesToClip");
          app.graph.add(node);
          node.pos = [500, 500];
          app.canvas.setDirty(true, true);
          return node.id;
        }"""
    )
    x, y = page.evaluate(TITLE_CENTRE, node_id)
    page.mouse.click(x, y)
    page.locator("[data-testid=info-button]").first.click()
    expected = (ROOT / "nodes" / "web" / "docs" / "VCast_ImagesToClip.md").read_text()
    first_line = next(line for line in expected.splitlines()[1:] if line.strip())
    help_text = page.get_by_text(first_line[:60]).first
    help_text.wait_for(state="visible")
    assert page.get_by_role("heading", name="Inputs").first.is_visible()
    assert page.get_by_text("VideoHelperSuite's video info: its loaded_fps is the rate.").first.is_visible()
    page.keyboard.press("Escape")
