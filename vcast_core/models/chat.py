"""The prompt as the checkpoint's own chat template writes it, before the video placeholder is expanded.

Each family then expands the template's video placeholder the way the installed transformers'
processor does (``expand_video`` in the family module), so that the prompt is token for token the
one ``AutoProcessor`` + ``apply_chat_template`` gives for the same folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ModelError


def _template_in(path: Path) -> str | None:
    """The chat template a file holds: a .jinja file, or the ``chat_template`` of a JSON file (as a string, or
    as a list of named templates, of which the default)."""
    if not path.is_file():
        return None
    if path.suffix == ".jinja":
        return path.read_text()
    try:
        template = json.loads(path.read_text()).get("chat_template")
    except (OSError, json.JSONDecodeError, AttributeError) as err:
        raise ModelError(f"{path} is not readable JSON: {err}") from None
    if isinstance(template, list):
        template = next((item.get("template") for item in template if item.get("name") == "default"), None)
    return template if isinstance(template, str) else None


def read_chat_template(folder: Path) -> str:
    """The checkpoint's chat template: ``chat_template.jinja`` (saved by transformers 5.x), ``chat_template.json``,
    a nested ``processor_config.json``, or ``tokenizer_config.json``, in that order."""
    names = ("chat_template.jinja", "chat_template.json", "processor_config.json", "tokenizer_config.json")
    for name in names:
        template = _template_in(folder / name)
        if template:
            return template
    raise ModelError(f"{folder} has no chat template (in {', '.join(names)}); download the full checkpoint")


def conversation(question: str, system: str | None) -> list[dict]:
    """One user turn, a video then the question, after an optional system turn; in the content-list form
    that every supported template reads."""
    turns = [{"role": "system", "content": [{"type": "text", "text": system}]}] if system else []
    return [*turns, {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}]


def render(tokenizer, template: str, question: str, system: str | None) -> str:
    """The template's text for the conversation, ending with the assistant's turn (the checkpoint's default
    system prompt where its template has one; a Thinking checkpoint's opening ``<think>``)."""
    return tokenizer.apply_chat_template(
        conversation(question, system), chat_template=template, tokenize=False, add_generation_prompt=True
    )
