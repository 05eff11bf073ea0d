"""Documents of the local task: a video file (relative to the folder lmms-eval runs in), a question, lettered
options and the right letter."""

from pathlib import Path

from vcast_core.batch.answers import chosen_letter, prompt


def doc_to_visual(doc):
    return [str(Path(doc["video"]).resolve())]


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return prompt(doc["question"], doc["options"])


def process_results(doc, results):
    return {"accuracy": float(chosen_letter(results[0], doc["options"]) == doc["answer"])}
