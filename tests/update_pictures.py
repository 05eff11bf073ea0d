"""Refresh the pictures that come from the real-frontend test: the template thumbnails and the README screenshots.

    VCAST_SCREENSHOTS=/tmp/shots COMFYUI_PATH=... python -m pytest tests/test_comfyui_frontend.py
    python tests/update_pictures.py /tmp/shots

writes ``workflows/<workflow>.jpg`` (what ComfyUI's template browser shows next to ``<workflow>.json``) and
``docs/images/<workflow>.png`` from each screenshot of a finished workflow, cropped to the canvas.
"""

import argparse
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CANVAS = (64, 78, 1920, 1080)  # the graph canvas in a 1920x1080 screenshot: left of it the sidebar, above it the menu
THUMBNAIL_WIDTH = 768


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("screenshots", type=Path, help="the folder VCAST_SCREENSHOTS named")
    folder = parser.parse_args().screenshots
    (ROOT / "docs" / "images").mkdir(parents=True, exist_ok=True)
    for workflow in sorted((ROOT / "workflows").glob("*.json")):
        shot = Image.open(folder / f"{workflow.stem}.png").convert("RGB")
        if shot.size != (1920, 1080):
            raise SystemExit(f"{workflow.stem}.png is {shot.size}, expected the test's 1920x1080")
        canvas = shot.crop(CANVAS)
        canvas.save(ROOT / "docs" / "images" / f"{workflow.stem}.png", optimize=True)
        height = round(canvas.height * THUMBNAIL_WIDTH / canvas.width)
        canvas.resize((THUMBNAIL_WIDTH, height), Image.LANCZOS).save(workflow.with_suffix(".jpg"), quality=85)
        print(f"{workflow.stem}: thumbnail and screenshot written")


if __name__ == "__main__":
    main()
