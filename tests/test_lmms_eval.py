"""The lmms-eval plugin through lmms-eval's own command line: a local task of three generated clips and
multiple-choice questions (tests/lmms_eval_task), the tiny random Qwen3-VL, ratios 1 and 0.25. Needs
``pip install -e .[eval]`` (CI's evaluation stage sets VCAST_REQUIRE_LMMS_EVAL so that it fails there instead
of skipping)."""

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from conftest import required_or_skip, write_shots_video, write_square_video

from vcast_core import load_video, prune
from vcast_core.allocation import total_budget
from vcast_core.batch.answers import prompt
from vcast_core.random_checkpoint import write_random_checkpoint

TASK = Path(__file__).parent / "lmms_eval_task"
QUESTIONS = [
    dict(video="clips/shots.mp4", question="How many shots?", options=["one", "two", "four"], answer="C"),
    dict(video="clips/shots.mp4", question="What comes first?", options=["a fractal", "a square"], answer="A"),
    dict(video="clips/square.mp4", question="Where does the square move?", options=["left", "right"], answer="B"),
]
FRAMES = 4


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The folder lmms-eval runs in: questions.json, the clips, the task (copied), a tiny checkpoint."""
    try:
        import lmms_eval  # noqa: F401
    except ImportError:
        required_or_skip("VCAST_REQUIRE_LMMS_EVAL", "lmms-eval is not installed", "pip install -e .[eval]")
    if "vcast" not in {entry.name for entry in metadata.entry_points(group="lmms_eval.models")}:
        required_or_skip(
            "VCAST_REQUIRE_LMMS_EVAL", "the vcast lmms-eval entry point is not installed", "pip install -e .[eval]"
        )
    root = tmp_path_factory.mktemp("lmms_eval")
    (root / "clips").mkdir()
    write_shots_video(root / "clips" / "shots.mp4", seconds_per_shot=1.0, width=160, height=120)
    write_square_video(root / "clips" / "square.mp4", frames=50, width=96, height=64)
    (root / "questions.json").write_text(json.dumps(QUESTIONS))
    shutil.copytree(TASK, root / "task", ignore=shutil.ignore_patterns("__pycache__"))
    write_random_checkpoint(root / "model", "qwen3_vl")
    return root


def run_lmms_eval(workspace: Path, ratio: float, processes: int = 1) -> tuple[dict, list[dict], list[dict]]:
    """``lmms-eval --model vcast`` on the local task, in ``processes`` data-parallel processes (torchrun); its
    results, its logged samples and the plugin's stats."""
    out = workspace / f"out-{ratio:g}-{processes}"
    stats = workspace / f"stats-{ratio:g}-{processes}.jsonl"
    model_args = f"pretrained={workspace / 'model'},frames={FRAMES},ratio={ratio},stats_path={stats}"
    launch = ["-m", "torch.distributed.run", "--nproc_per_node", str(processes)] if processes > 1 else []
    command = [
        sys.executable,
        *launch,
        "-m",
        "lmms_eval",
        "--model",
        "vcast",
        "--model_args",
        model_args,
        "--tasks",
        "vcast_local_mc",
        "--include_path",
        str(workspace / "task"),
        "--batch_size",
        "1",
        "--output_path",
        str(out),
        "--log_samples",
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    done = subprocess.run(command, cwd=workspace, env=env, capture_output=True, text=True, timeout=900)
    found = list(out.rglob("*_results.json"))  # lmms-eval logs an error and still exits 0
    assert done.returncode == 0 and len(found) == 1, done.stdout[-3000:] + done.stderr[-6000:]
    results = json.loads(found[0].read_text())
    samples = [json.loads(line) for line in next(out.rglob("*_samples_vcast_local_mc.jsonl")).read_text().splitlines()]
    files = [stats] if processes == 1 else [Path(f"{stats}.rank{rank}") for rank in range(processes)]
    records = [json.loads(line) for path in files for line in path.read_text().splitlines()]
    return results, samples, records


@pytest.fixture(scope="module")
def evaluated(workspace):
    """One lmms-eval run per ratio, as a user compares ratios."""
    return {ratio: run_lmms_eval(workspace, ratio) for ratio in (1.0, 0.25)}


@pytest.mark.parametrize("ratio", [1.0, 0.25])
def test_lmms_eval_runs_the_local_task_through_the_plugin(evaluated, ratio):
    results, samples, records = evaluated[ratio]
    accuracy = results["results"]["vcast_local_mc"]["accuracy,none"]
    assert 0.0 <= accuracy <= 1.0
    assert results["n-samples"]["vcast_local_mc"]["effective"] == len(QUESTIONS)
    assert f"ratio={ratio}" in results["config"]["model_args"]
    assert len(samples) == len(records) == len(QUESTIONS)
    for record in records:  # the policy ran at the ratio asked for
        total = record["video_tokens_total"]
        tokens_per_frame = total // len(record["kept_per_frame"])
        assert record["video_tokens_kept"] == total_budget(len(record["kept_per_frame"]), tokens_per_frame, ratio)
        assert record["policy"]["allocator"] == "curvature" and record["policy"]["selector"] == "dual_anchor"
    assert {record["questions_in_batch"] for record in records} == {2, 1}  # one video's two questions together
    assert accuracy == pytest.approx(sum(s["accuracy"] for s in samples) / len(samples))


@pytest.mark.parametrize("ratio", [1.0, 0.25])
def test_lmms_eval_answers_equal_the_core_pipelines(workspace, evaluated, ratio):
    """Each answer lmms-eval logged is, token for token, what vcast_core answers to that question alone."""
    from vcast_core import load_videollm

    _, samples, _ = evaluated[ratio]
    llm = load_videollm(workspace / "model", device="cpu")
    for sample in samples:
        doc = QUESTIONS[sample["doc_id"]]
        tokens = llm.encode(load_video(workspace / doc["video"], num_frames=FRAMES))
        answer = llm.generate(prune(tokens, ratio), prompt(doc["question"], doc["options"]), max_new_tokens=4)
        logged = sample["filtered_resps"]
        # lmms-eval strips the ends of a response (str.strip: random weights can end one on a control character)
        assert (logged[0] if isinstance(logged, list) else logged) == answer.text.strip()


def test_lmms_eval_data_parallel_processes_give_the_same_answers(workspace, evaluated):
    """Two processes (torchrun, as ``accelerate launch`` starts them) share the requests; every answer is the
    single process's, though the two questions about one video now land in different processes."""
    results, samples, records = run_lmms_eval(workspace, 0.25, processes=2)
    single = {sample["doc_id"]: sample["filtered_resps"] for sample in evaluated[0.25][1]}
    assert {sample["doc_id"]: sample["filtered_resps"] for sample in samples} == single
    assert results["n-samples"]["vcast_local_mc"]["effective"] == len(QUESTIONS)
    assert len(records) == 4  # lmms-eval pads the 3 requests to 2 per process


@pytest.mark.parametrize(("options", "message"), [({"tau": -1}, "tau must be"), ({"taus": 1}, "unknown V-CAST option")])
def test_a_bad_policy_is_refused_before_the_model_loads(workspace, options, message):
    from vcast_core import InputError
    from vcast_core.lmms_eval_model import VCast

    with pytest.raises(InputError, match=message):
        VCast(pretrained=str(workspace / "no such model"), **options)
