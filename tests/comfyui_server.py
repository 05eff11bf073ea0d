"""A real ComfyUI server on the CPU with this pack installed, for the tests that need the real thing.

``COMFYUI_PATH`` names a ComfyUI checkout (it may be read-only: everything ComfyUI writes goes to a
home folder given with ``--base-directory``) whose requirements are installed in this Python.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACK_FOLDER = "comfyui-vcast"  # the folder name users clone into; ComfyUI names the web extension after it
TINY_FOLDER = "tiny-random-qwen3-vl"  # random weights: answers are noise, everything else is real
TINY_MODEL = f"LLM/{TINY_FOLDER}"  # as Load VideoLLM lists it
OTHER_MODEL = "VLM/tiny-random-llava"  # where other packs keep VLMs


@dataclass
class Server:
    url: str
    home: Path
    log: Path

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.load(response)

    def post(self, path: str, body: dict):
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, json.dumps(body).encode(), headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None  # some endpoints (/free) answer with no body


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare_home(home: Path, write_video, write_checkpoint) -> None:
    """The pack in custom_nodes/, the tiny checkpoints in models/LLM/ and models/VLM/, clip.mp4 in input/."""
    (home / "custom_nodes").mkdir(parents=True)
    (home / "custom_nodes" / PACK_FOLDER).symlink_to(ROOT, target_is_directory=True)
    write_checkpoint(home / "models" / "LLM" / TINY_FOLDER, "qwen3_vl")
    write_checkpoint(home / "models" / OTHER_MODEL, "llava_onevision")
    (home / "input").mkdir()
    write_video(home / "input" / "clip.mp4")


def start(comfyui: Path, home: Path) -> tuple[subprocess.Popen, Server]:
    """Start ComfyUI on a free port and wait until it answers (about 15 to 30 s on the CPU)."""
    port = free_port()
    command = [
        sys.executable,
        "main.py",
        "--cpu",
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        "--base-directory",
        str(home),
        "--database-url",
        f"sqlite:///{home / 'comfyui.db'}",
    ]
    log = home / "comfyui.log"
    environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")  # COMFYUI_PATH may be shared and read-only
    with open(log, "w") as output:
        process = subprocess.Popen(command, cwd=comfyui, stdout=output, stderr=subprocess.STDOUT, env=environment)
    server = Server(f"http://127.0.0.1:{port}", home, log)
    for _ in range(240):
        try:
            server.get("/system_stats")
            return process, server
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {process.returncode}:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"ComfyUI did not answer in 120 s:\n{log.read_text()[-3000:]}")
