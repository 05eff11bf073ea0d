"""`python -m vcast_core batch`: manifests, multiple-choice answers and the per-ratio summary."""

import csv
import json
from pathlib import Path

import pytest
from conftest import write_square_video

from vcast_core.batch import ManifestError, read_manifest, summarize
from vcast_core.batch.answers import chosen_letter, prompt

OPTIONS = ["a bright square", "a dog", "nothing moves"]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """Seven items: three multiple choice, two free text (one with an answer), one cut-short video, one missing."""
    folder = tmp_path_factory.mktemp("videos")
    for index, (frames, width) in enumerate([(30, 128), (40, 96), (50, 160)]):
        write_square_video(folder / f"clip{index}.mp4", frames=frames, width=width, height=96)
    whole = (folder / "clip2.mp4").read_bytes()
    (folder / "cut.mp4").write_bytes(whole[: len(whole) // 2])
    rows = [
        dict(id="mc0", video="clip0.mp4", question="What moves?", options=OPTIONS, answer="A"),
        dict(id="mc1", video="clip1.mp4", question="What moves?", options=OPTIONS, answer="a dog"),
        dict(id="mc2", video="clip2.mp4", question="Which way?", options=["left", "right"], answer="b"),
        dict(id="free", video="clip0.mp4", question="Describe the video.", answer="a square moves right"),
        dict(id=7, video=str(folder / "clip1.mp4"), question="What happens?"),
        dict(id="cut", video="cut.mp4", question="What moves?", options=OPTIONS, answer="A"),
        dict(id="gone", video="missing.mp4", question="What moves?"),
    ]
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_jsonl_and_csv_manifests_give_the_same_items(manifest, tmp_path):
    items = read_manifest(manifest)
    assert [item.id for item in items] == ["mc0", "mc1", "mc2", "free", "7", "cut", "gone"]
    assert items[0].video == str(manifest.parent / "clip0.mp4")  # relative to the manifest's folder
    assert [item.answer for item in items] == ["A", "B", "B", "a square moves right", None, "A", None]
    with (tmp_path / "manifest.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "video", "question", "options", "answer"])
        for row in map(json.loads, manifest.read_text().splitlines()):
            video = row["video"] if Path(row["video"]).is_absolute() else str(manifest.parent / row["video"])
            writer.writerow([row["id"], video, row["question"], "|".join(row.get("options", [])), row.get("answer")])
    assert read_manifest(tmp_path / "manifest.csv") == items


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"id": "a", "video": "v.mp4", "question": "q"}\n{"id": "b", "video": \n', "line 2 is not valid JSON"),
        ('\n{"id": "a", "video": "v.mp4"}\n', "line 2 has no question; every item needs id, video, question"),
        ('{"id": "a", "video": "v.mp4", "question": "q"}\n' * 2, "line 2: id 'a' repeats line 1; ids must be unique"),
        ('{"id": "a", "video": "v.mp4", "question": "q", "options": ["x", "y"], "answer": "C"}', "answer 'C' is nei"),
        ('{"id": "a", "video": "v.mp4", "question": "q", "options": ["x"]}', "needs 2 to 10 options, got 1"),
        ('["a", "v.mp4", "q"]', "line 1 must be a JSON object"),
        ("", "holds no items"),
    ],
)
def test_bad_manifest_lines_are_named(tmp_path, text, message):
    path = tmp_path / "manifest.jsonl"
    path.write_text(text)
    with pytest.raises(ManifestError, match=message):
        read_manifest(path)


def test_bad_csv_manifests_are_named(tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_text("id,video\na,v.mp4\n")
    with pytest.raises(ManifestError, match="line 1: the header has no column question"):
        read_manifest(path)
    path.write_text("id,video,question\na,v.mp4,q\nb,,q\n")
    with pytest.raises(ManifestError, match="line 3 has no video"):
        read_manifest(path)
    with pytest.raises(ManifestError, match=r"must end in \.jsonl .* or \.csv"):
        read_manifest(path.rename(tmp_path / "manifest.txt"))


@pytest.mark.parametrize(
    ("prediction", "letter"),
    [
        ("B", "B"),
        ("(C) nothing moves", "C"),
        ("B. a dog", "B"),
        ("The answer is B.", "B"),
        ("I see a dog running.", "B"),  # the text of exactly one option
        ("a bright square, not a dog", None),  # two options named and no letter standing alone
        ("Dogs", None),
    ],
)
def test_chosen_letter(prediction, letter):
    assert chosen_letter(prediction, tuple(OPTIONS)) == letter


def test_multiple_choice_prompt_labels_options_once():
    text = prompt("What moves?", ("A. a square", "(B) a dog", "nothing"))
    assert text.splitlines() == [
        "What moves?",
        "A. a square",
        "B. a dog",
        "C. nothing",
        "Answer with the option's letter from the given choices directly.",
    ]
    assert prompt("Describe the video.", ()) == "Describe the video."


def test_summary_by_hand():
    def record(id, ratio, choice, correct, prefill, memory):
        stats = dict(video_ms=10.0, encode_ms=20.0, policy_ms=0.0, prefill_ms=prefill, decode_ms=70.0)
        stats["peak_memory_mb"] = memory
        return dict(id=id, ratio=ratio, prediction=choice, choice=choice, correct=correct, error=None, stats=stats)

    records = [
        record("a", 1.0, "A", True, 100.0, 400.0),
        record("b", 1.0, "B", False, 200.0, 500.0),
        record("a", 0.5, "A", True, 50.0, 300.0),
        record("b", 0.5, "C", True, 50.0, 500.0),
        dict(id="c", ratio=0.5, prediction=None, choice=None, correct=None, error="VideoError: x", stats=None),
    ]
    half = summarize(records)["ratios"][1]
    assert (half["items"], half["errors"], half["scored"], half["accuracy"]) == (3, 1, 2, 1.0)
    assert half["agreement_with_ratio_1"] == 0.5 and half["prefill_vs_ratio_1"] == (0.5 + 0.25) / 2
    assert half["total_time_vs_ratio_1"] == (150 / 200 + 150 / 300) / 2
    assert half["peak_memory_vs_ratio_1"] == (0.75 + 1.0) / 2
