"""`python -m vcast_core batch`: manifests, the local and Ray paths, resuming after a kill, the summary.

Real parts throughout: a tiny random Qwen3-VL checkpoint, H.264 files (one cut short, one missing),
a local Ray cluster with 2 CPU workers, a job killed with SIGKILL.
"""

import csv
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ray_or_skip, write_square_video
from hypothesis import given, settings
from hypothesis import strategies as st

from vcast_core.batch import ManifestError, read_manifest, read_results, summarize
from vcast_core.batch.answers import chosen_letter, prompt
from vcast_core.batch.summary import summary_path
from vcast_core.cli import main
from vcast_core.random_checkpoint import write_random_checkpoint

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ["a bright square", "a dog", "nothing moves"]
FAST = ["--frames", "8", "--max-new-tokens", "6"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "Qwen3-VL-tiny", "qwen3_vl")


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


def batch(manifest, checkpoint, out, *extra):
    return main(["batch", str(manifest), "--model", str(checkpoint), "--out", str(out), *FAST, *extra])


def by_key(path):
    return {(record["id"], record["ratio"]): record for record in read_results(path)[0]}


@pytest.fixture(scope="module")
def local_results(manifest, checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "results.jsonl"
    assert batch(manifest, checkpoint, out, "--compare-ratios", "1,0.25") == 0
    return out


@pytest.fixture(scope="module")
def ray_cluster():
    ray = ray_or_skip()
    from vcast_core.batch.on_ray import start_ray

    start_ray(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20)
    yield ray
    ray.shutdown()


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


NINE_OPTIONS = ("a bright square", "a dog", "nothing moves", "a car", "a tree", "a cat", "a bird", "a man", "a boat")


@pytest.mark.parametrize(
    ("prediction", "letter"),
    [
        ("A man walks his dog, so the answer is B.", "B"),  # "A" the article, not the option
        ("I think the answer is C.", "C"),  # "I" the pronoun, with nine options (I is one)
        ("A", "A"),
        ("A.", "A"),
        ("(A)", "A"),
        ("A) a bright square", "A"),
        ("A. a bright square", "A"),
        ("The best answer is A.", "A"),
        ("The answer is A, a bright square.", "A"),
        ("A dog runs across.", "B"),  # the article, then one option's text
        ("A tree falls, a car passes.", None),  # two options' texts, no choice
        ("I", "I"),
        ("I.", "I"),
        ("(I) a boat", "I"),
        ("answer is I", "I"),
        ("I believe it is G.", "G"),
        ("I would say E", "E"),
        ("Answer: D", "D"),
        ("answer: d", None),  # a lower-case letter is a word, not a label
        ("The correct option is (E).", "E"),
        ("Option F", "F"),
        ("It's H", "H"),
        ("H is correct", "H"),
        ("[C]", "C"),
        ("Choice: B", "B"),
        ("My answer would be D.", "D"),
        ("It is clearly option C because nothing moves.", "C"),
        ("In the video a car drives by.", "D"),
        ("None of them", None),
        ("", None),
    ],
)
def test_chosen_letter_reads_a_and_i_as_words_where_they_are(prediction, letter):
    assert chosen_letter(prediction, NINE_OPTIONS) == letter


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


def test_local_job_records_bad_videos_and_summarises(local_results, manifest, checkpoint, capsys):
    records = by_key(local_results)
    assert sorted(records) == sorted((item.id, ratio) for item in read_manifest(manifest) for ratio in (1.0, 0.25))
    for ratio in (1.0, 0.25):
        assert records[("cut", ratio)]["error"].startswith("VideoError: ")
        assert "not a readable video" in records[("cut", ratio)]["error"]
        assert (
            records[("gone", ratio)]["error"]
            == f"VideoError: video file {manifest.parent / 'missing.mp4'} does not exist"
        )
        assert records[("cut", ratio)]["prediction"] is None and records[("cut", ratio)]["correct"] is None
    good = [record for record in records.values() if record["error"] is None]
    assert len(good) == 10 and all(len(record["token_ids"]) <= 6 for record in good)
    for record in good:
        stats = record["stats"]
        assert stats["video_tokens_kept"] == round(record["ratio"] * stats["video_tokens_total"]) > 0
    assert {record["correct"] is None for record in good if record["id"] == "7"} == {True}  # no answer given
    assert all(isinstance(record["correct"], bool) for record in good if record["id"] != "7")

    summary = json.loads(summary_path(local_results).read_text())
    assert summary.pop("format") == "vcast-batch-summary" and summary == summarize(list(records.values()))
    one, quarter = summary["ratios"]
    assert (one["ratio"], one["items"], one["errors"], one["scored"]) == (1.0, 7, 2, 4)
    assert one["agreement_with_ratio_1"] == one["prefill_vs_ratio_1"] == one["peak_memory_vs_ratio_1"] == 1.0
    scored = [r["correct"] for (i, ratio), r in sorted(records.items()) if ratio == 0.25 and r["correct"] is not None]
    assert quarter["accuracy"] == sum(scored) / len(scored) and quarter["paired_with_ratio_1"] == 5

    # a rerun has nothing left to do, prints the same table and leaves the file as it was
    before = local_results.read_bytes()
    assert batch(manifest, checkpoint, local_results, "--compare-ratios", "1,0.25") == 0
    captured = capsys.readouterr()
    assert "7 items, 7 already in" in captured.err and "0 to run" in captured.err
    assert "agreement with 1" in captured.out and local_results.read_bytes() == before


def test_batch_answers_as_the_single_video_path_does(local_results, manifest, checkpoint):
    """The free-text item at ratio 0.25 gives the tokens that load_video -> encode -> prune -> generate give."""
    import vcast_core

    clip = vcast_core.load_video(manifest.parent / "clip1.mp4", num_frames=8)
    llm = vcast_core.load_videollm(checkpoint, device="cpu")
    generation = llm.generate(vcast_core.prune(llm.encode(clip), 0.25), "What happens?", max_new_tokens=6)
    record = by_key(local_results)[("7", 0.25)]
    assert record["token_ids"] == generation.token_ids and record["prediction"] == generation.text


def test_items_about_one_video_are_answered_together(local_results, manifest, checkpoint):
    """mc0 and free ask about clip0.mp4: one decode, one encode and one prefill of the video, their questions
    decoded as one batch; each answer is the one its question gets alone."""
    import vcast_core

    records = by_key(local_results)
    llm = vcast_core.load_videollm(checkpoint, device="cpu")
    token_set = llm.encode(vcast_core.load_video(manifest.parent / "clip0.mp4", num_frames=8))
    for ratio in (1.0, 0.25):
        together = [records[("mc0", ratio)]["stats"], records[("free", ratio)]["stats"]]
        assert [stats["questions_in_batch"] for stats in together] == [2, 2]
        assert (
            together[0]["prefill_ms"] == together[1]["prefill_ms"]
            and together[0]["encode_ms"] == together[1]["encode_ms"]
        )
        assert records[("mc2", ratio)]["stats"]["questions_in_batch"] == 1
        pruned = vcast_core.prune(token_set, ratio)
        alone = llm.generate(pruned, prompt("What moves?", tuple(OPTIONS)), max_new_tokens=6)
        assert records[("mc0", ratio)]["token_ids"] == alone.token_ids


def test_summary_does_not_depend_on_record_order(local_results, tmp_path):
    header, *lines = local_results.read_text().splitlines(keepends=True)
    expected = summarize(read_results(local_results)[0])
    for seed in range(5):
        random.Random(seed).shuffle(lines)
        shuffled = tmp_path / f"shuffled{seed}.jsonl"
        shuffled.write_text(header + "".join(lines))
        assert summarize(read_results(shuffled)[0]) == expected


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


def test_ray_job_gives_the_local_predictions(ray_cluster, local_results, manifest, checkpoint, tmp_path, capsys):
    out = tmp_path / "ray.jsonl"
    assert batch(manifest, checkpoint, out, "--compare-ratios", "1,0.25", "--ray", "--workers", "2") == 0
    assert "Ray: 2 workers, 1 CPU each" in capsys.readouterr().err
    local, remote = by_key(local_results), by_key(out)
    assert sorted(local) == sorted(remote)
    for key, record in local.items():
        assert [remote[key][name] for name in ("prediction", "token_ids", "error", "correct")] == [
            record[name] for name in ("prediction", "token_ids", "error", "correct")
        ], key
    workers = {record["worker"] for record in remote.values()}
    assert len(workers) == 2 and not workers & {record["worker"] for record in local.values()}
    assert json.loads(summary_path(out).read_text())["ratios"][0]["errors"] == 2


def test_ray_errors_are_clear(ray_cluster, manifest, checkpoint, tmp_path, capsys):
    out = tmp_path / "ray.jsonl"
    assert batch(manifest, checkpoint, out, "--ray", "--workers", "3") == 2
    assert "error: the Ray cluster has 2 CPUs and no GPU; --workers 3 needs one CPU each" in capsys.readouterr().err
    assert batch(manifest, tmp_path / "no-model", out, "--ray", "--workers", "1") == 2
    err = capsys.readouterr().err
    assert "error: a Ray worker failed: vcast_core.errors.ModelError: model folder" in err
    assert "does not exist" in err and not out.exists()


def test_an_address_where_no_cluster_listens_fails_fast(manifest, checkpoint, tmp_path):
    ray_or_skip()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "results.jsonl"
    argv = ["batch", str(manifest), "--model", str(checkpoint), "--out", str(out), "--ray", f"127.0.0.1:{port}"]
    result = subprocess.run([sys.executable, "-m", "vcast_core", *argv], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert f"error: nothing answers at 127.0.0.1:{port}" in result.stderr and "ray start --head" in result.stderr
    assert not out.exists()


def test_missing_ray_says_how_to_install_it(manifest, checkpoint, tmp_path):
    out = tmp_path / "results.jsonl"
    argv = ["batch", str(manifest), "--model", str(checkpoint), "--out", str(out), "--ray"]
    code = f"import sys; sys.modules['ray'] = None; from vcast_core.cli import main; sys.exit(main({argv!r}))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "error: --ray needs Ray: pip install ray" in result.stderr
    assert not out.exists()


def test_resume_after_kill_finishes_without_duplicates(local_results, manifest, checkpoint, tmp_path):
    """A job killed with SIGKILL after a few items, then rerun, holds every item once, as an unbroken job would."""
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    source = {f"k{index}": rows[index % len(rows)] for index in range(42)}
    many = tmp_path / "many.jsonl"
    for id, row in source.items():
        video = Path(row["video"]) if Path(row["video"]).is_absolute() else manifest.parent / row["video"]
        with many.open("a") as file:
            file.write(json.dumps(dict(row, id=id, video=str(video))) + "\n")
    out = tmp_path / "killed.jsonl"
    argv = ["batch", str(many), "--model", str(checkpoint), "--out", str(out), *FAST, "--compare-ratios", "1,0.25"]
    job = subprocess.Popen([sys.executable, "-m", "vcast_core", *argv], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while job.poll() is None and time.monotonic() < deadline:
        if out.exists() and out.read_text().count("\n") >= 4:  # two items, two ratios each
            job.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    job.wait()
    assert job.returncode == -signal.SIGKILL, f"the job was not killed mid-way: {job.stderr.read()}"
    assert 4 <= len(read_results(out)[0]) < 84

    assert main(argv) == 0
    pairs = [(record["id"], record["ratio"]) for record in read_results(out)[0]]
    assert len(pairs) == len(set(pairs)) == 84
    expected = by_key(local_results)
    for (id, ratio), record in by_key(out).items():
        want = expected[(str(source[id]["id"]), ratio)]
        assert (record["token_ids"], record["error"]) == (want["token_ids"], want["error"]), (id, ratio)


def test_a_line_cut_short_by_a_kill_is_run_again(local_results, manifest, checkpoint, tmp_path, capsys):
    lines = local_results.read_text().splitlines(keepends=True)
    last = json.loads(lines[-1])
    kept = [line for line in lines if json.loads(line).get("id") != last["id"]]  # the header has no id
    out = tmp_path / "cut.jsonl"
    out.write_text("".join(kept) + lines[-1][: len(lines[-1]) // 2])
    before = out.read_bytes()
    assert batch(manifest, checkpoint, out, "--compare-ratios", "1,0.25") == 0
    assert f"lines [{len(kept) + 1}] are incomplete" in capsys.readouterr().err
    assert out.read_bytes().startswith(before)  # appended to, never rewritten
    records, broken = read_results(out)
    assert broken == [len(kept) + 1]
    assert {key: r["token_ids"] for key, r in by_key(out).items()} == {
        key: r["token_ids"] for key, r in by_key(local_results).items()
    }


def test_results_files_are_never_mixed_or_rewritten(local_results, manifest, checkpoint, tmp_path, capsys):
    before = local_results.read_bytes()
    cases = [
        (["--out", str(local_results), "--allocator", "uniform"], "holds results made with allocator='curvature'"),
        (["--out", str(manifest)], "is the manifest; give the results a file of their own"),
        (["--out", str(local_results), "--workers", "2"], "--workers and --gpus-per-worker apply to Ray jobs"),
        (["--out", str(local_results), "--compare-ratios", "1,1"], "give each ratio once"),
        (["--out", str(local_results), "--ratio", "0"], "ratio must be a number in (0, 1]"),
        (["--out", str(tmp_path / "new.jsonl"), "--max-new-tokens", "0"], "max_new_tokens must be an integer in [1"),
        (["--out", str(tmp_path / "no" / "new.jsonl")], f"folder {tmp_path / 'no'} does not exist; create it first"),
        (["--out", str(local_results), "--max-frame-pixels", "64"], "holds results made with max_frame_pixels=602112"),
        (["--out", str(tmp_path / "new.jsonl"), "--max-clip-pixels", "0"], "max_clip_pixels must be an integer in [1"),
    ]
    for extra, message in cases:
        assert main(["batch", str(manifest), "--model", str(checkpoint), *FAST, *extra]) == 2
        assert message in capsys.readouterr().err
    copy = tmp_path / "other.jsonl"
    copy.write_bytes(manifest.read_bytes())
    assert batch(manifest, checkpoint, copy) == 2
    assert "is not a results file of `python -m vcast_core batch` (its first line" in capsys.readouterr().err
    assert copy.read_bytes() == manifest.read_bytes() and local_results.read_bytes() == before
    assert not (tmp_path / "new.jsonl").exists()
    older = tmp_path / "older.jsonl"  # written before the pixel limits were recorded
    first, *rest = local_results.read_text().splitlines()
    header = json.loads(first)
    del header["settings"]["max_frame_pixels"]
    older.write_text("\n".join([json.dumps(header), *rest]) + "\n")
    assert batch(manifest, checkpoint, older) == 2
    assert "written by an earlier version that did not record max_frame_pixels" in capsys.readouterr().err


def test_a_link_or_a_file_in_use_is_never_written(local_results, manifest, checkpoint, tmp_path, capsys):
    target = tmp_path / "target.txt"
    target.write_text("someone's notes\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    assert batch(manifest, checkpoint, link) == 2
    assert "is a link; give the results a file of their own" in capsys.readouterr().err
    assert target.read_text() == "someone's notes\n"
    from vcast_core.batch.results import ResultsFile

    held = ResultsFile(tmp_path / "busy.jsonl", {}, manifest)  # another job holds it
    try:
        assert batch(manifest, checkpoint, tmp_path / "busy.jsonl") == 2
        assert "is in use by another batch job" in capsys.readouterr().err
    finally:
        held.close()


def test_the_summary_is_never_written_through_a_link_or_over_another_file(manifest, checkpoint, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    precious = tmp_path / "results.summary.json"
    precious.write_text("my own notes\n")
    assert batch(manifest, checkpoint, out) == 2
    assert "exists and is not a batch summary" in capsys.readouterr().err
    assert precious.read_text() == "my own notes\n" and out.exists()  # the results are kept
    precious.unlink()
    elsewhere = tmp_path / "elsewhere.json"
    precious.symlink_to(elsewhere)
    assert batch(manifest, checkpoint, out) == 2
    assert "is a link; the summary is not written through links" in capsys.readouterr().err
    assert not elsewhere.exists()
    precious.unlink()
    assert batch(manifest, checkpoint, out) == 0  # resumes: nothing left to run, the summary is written
    assert json.loads(precious.read_text())["format"] == "vcast-batch-summary"


def test_one_undecodable_question_fails_its_item_only(manifest, checkpoint, tmp_path):
    rows = [json.loads(line) for line in manifest.read_text().splitlines()][:2]
    rows[1]["question"] = "what \udc80 moves?"  # a lone surrogate: bytes that were not UTF-8
    for row in rows:
        row["video"] = str(manifest.parent / row["video"])
    odd = tmp_path / "odd.jsonl"
    odd.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "odd-results.jsonl"
    assert batch(odd, checkpoint, out) == 0
    records = by_key(out)
    assert records[("mc0", 0.25)]["error"] is None
    assert "prompt is not valid UTF-8 text" in records[("mc1", 0.25)]["error"]
    assert batch(odd, checkpoint, out) == 0  # and the file resumes


def test_a_full_disk_stops_the_job_with_one_line_and_keeps_what_was_written(manifest, checkpoint, tmp_path, capsys):
    import errno

    from vcast_core.batch import results

    out = tmp_path / "full.jsonl"
    writes = []
    real_write = os.write

    def disk_fills(handle, data):  # the third write (the second item) finds the disk full
        writes.append(len(data))
        if len(writes) == 3:
            real_write(handle, bytes(data)[:10])  # part of it lands before the error
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(handle, data)

    original = results.os.write
    results.os.write = disk_fills
    try:
        assert batch(manifest, checkpoint, out) == 2
    finally:
        results.os.write = original
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "could not write to" in errors[0] and "No space left on device" in errors[0]
    header, *lines = out.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["id"] == "mc0"  # the cut item left nothing behind


def test_settings_that_would_fail_every_item_are_refused_before_the_first(manifest, checkpoint, tmp_path, capsys):
    out = tmp_path / "never.jsonl"
    for extra, message in [
        (["--temperature", "1e-300"], "temperature must be 0 (greedy) or a number in [0.001, 100]"),
        (["--seed", str(2**70)], "seed must be an integer in [0, 9223372036854775807]"),
        (["--system", "x\udc80"], "system is not valid UTF-8 text"),
    ]:
        assert batch(manifest, checkpoint, out, *extra) == 2
        assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "suffix", "outcome"),
    [
        ("\ufeffid,video,question\na,v.mp4,q\n".encode(), ".csv", 1),  # a CSV saved by Excel: a byte-order mark
        (b"id,video,question\na,v.mp4,caf\xe9\n", ".csv", "line 2 is not UTF-8 text (byte 0xe9)"),  # Latin-1
        (f"id,video,question\na,v.mp4,{'x' * 200_000}\n".encode(), ".csv", 1),  # a long field
        (('{"id": ' + "9" * 5000 + ', "video": "v.mp4", "question": "q"}\n').encode(), ".jsonl", "line 1: Exceeds"),
        (('{"id": "' + "i" * 5000 + '", "video": "v.mp4", "question": "q"}\n').encode(), ".jsonl", 1),
    ],
)
def test_manifests_as_people_save_them(tmp_path, content, suffix, outcome):
    path = tmp_path / f"manifest{suffix}"
    path.write_bytes(content)
    if isinstance(outcome, int):
        assert len(read_manifest(path)) == outcome
    else:
        with pytest.raises(ManifestError, match=re.escape(outcome)):
            read_manifest(path)


@settings(max_examples=150, deadline=None)
@given(
    content=st.binary(max_size=300) | st.text(max_size=300).map(str.encode), suffix=st.sampled_from([".csv", ".jsonl"])
)
def test_random_manifests_read_or_are_refused_in_one_line(tmp_path_factory, content, suffix):
    path = tmp_path_factory.mktemp("manifests") / f"m{suffix}"
    path.write_bytes(content)
    try:
        items = read_manifest(path)
    except ManifestError as err:
        assert "\n" not in str(err)
    else:
        assert items and all(isinstance(item.id, str) for item in items)
