import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from vcast_core.token_files import TokenFileError, load_token_set, save_token_set
from vcast_core.tokens import TokenSet, prune


def token_set(deepstack_levels=2, with_kept=True, model_type="qwen3_vl"):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(4, 6, 8, generator=generator).to(torch.bfloat16)
    levels = tuple(torch.randn(4, 6, 8, generator=generator) for _ in range(deepstack_levels))
    tokens = TokenSet(model_type, features, (4, 4, 6), levels, (0.25, 1.25, 2.25, 3.25), tuple(range(8)), 1.0, 12.5)
    return prune(tokens, 0.5) if with_kept else tokens


def test_round_trip_keeps_everything(tmp_path):
    original = token_set()
    loaded = load_token_set(save_token_set(original, tmp_path / "out" / "clip.safetensors"))
    assert loaded.features.dtype == torch.bfloat16 and torch.equal(loaded.features, original.features)
    assert all(torch.equal(a, b) for a, b in zip(loaded.deepstack, original.deepstack, strict=True))
    assert torch.equal(loaded.kept, original.kept)
    for field in ("model_type", "grid", "timestamps", "frame_indices", "seconds_per_group", "encode_ms"):
        assert getattr(loaded, field) == getattr(original, field)
    assert loaded.policy == original.policy and loaded.policy["allocator"] == "curvature"


def test_unpruned_and_deepstack_free_sets_round_trip(tmp_path):
    plain = token_set(deepstack_levels=0, with_kept=False, model_type="qwen2_5_vl")
    loaded = load_token_set(save_token_set(plain, tmp_path / "a.safetensors"))
    assert loaded.kept is None and loaded.deepstack == ()


def test_never_overwrites_a_file_or_writes_through_a_link(tmp_path):
    path = save_token_set(token_set(), tmp_path / "clip.safetensors")
    before = path.read_bytes()
    with pytest.raises(TokenFileError, match="already exists"):
        save_token_set(token_set(), path)
    assert path.read_bytes() == before
    dangling = tmp_path / "link.safetensors"
    dangling.symlink_to(tmp_path / "elsewhere" / "target.safetensors")
    with pytest.raises(TokenFileError, match="already exists"):
        save_token_set(token_set(), dangling)
    assert not (tmp_path / "elsewhere").exists()


def rewrite(path, tensors=None, **metadata_changes):
    """Save a tampered copy of a token-set file: changed tensors and metadata fields."""
    from safetensors import safe_open

    with safe_open(path, framework="pt") as handle:
        metadata = dict(handle.metadata())
    metadata.update(metadata_changes)
    out = path.with_name("tampered.safetensors")
    save_file(tensors or load_file(path), out, metadata=metadata)
    return out


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (dict(grid=json.dumps([4, 4, 8])), r"grid \(4, 4, 8\) does not fit features"),
        (dict(hidden_size="16"), "hidden_size 16 but the features are 8 wide"),
        (dict(timestamps="[0.5]"), "1 timestamps for 4 frames"),
        (dict(format="something-else"), "not a V-CAST token set"),
        (dict(version="7"), "format version 7"),
        (dict(grid="not json"), "inconsistent or damaged metadata"),
        (dict(timestamps="[0.25, NaN, 2.25, 3.25]"), "holds the number nan"),
        (dict(timestamps="[0.25, 1e999, 2.25, 3.25]"), "holds the number 1e999"),
        (dict(seconds_per_group="inf"), "seconds_per_group is inf"),
        (dict(encode_ms="-5"), "encode_ms is -5"),
        (dict(policy="[" * 100_000 + "]" * 100_000), "policy is nested too deeply"),
        (dict(policy="[]"), "policy is not a JSON object"),
        (dict(frame_indices="[0, 1, -2, 3, 4, 5, 6, 7]"), "a frame index is negative"),
        (dict(grid="0" * 2_000_000), "grid is 2000000 characters long"),
    ],
)
def test_tampered_metadata_is_refused(tmp_path, tamper, message):
    path = save_token_set(token_set(), tmp_path / "clip.safetensors")
    with pytest.raises(TokenFileError, match=message):
        load_token_set(rewrite(path, **tamper))


def test_kept_mask_of_the_wrong_shape_is_refused(tmp_path):
    path = save_token_set(token_set(), tmp_path / "clip.safetensors")
    tensors = load_file(path)
    tensors["kept"] = tensors["kept"][:, :5].contiguous()
    with pytest.raises(TokenFileError, match="kept mask must be bool of shape"):
        load_token_set(rewrite(path, tensors))


def test_files_that_are_not_token_sets(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00\x01 not safetensors")
    with pytest.raises(TokenFileError, match="is not a .safetensors file"):
        load_token_set(junk)
    with pytest.raises(TokenFileError, match="does not exist"):
        load_token_set(tmp_path / "missing.safetensors")
    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, plain)
    with pytest.raises(TokenFileError, match="not a V-CAST token set"):
        load_token_set(plain)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.update(kept=t["kept"].float()), "the kept mask is torch.float32"),
        (lambda t: t.update(kept=t["kept"] * 2), "with values other than 0 and 1"),
        (lambda t: t.update(features=t["features"].float().masked_fill(torch.eye(6, 8).bool(), float("nan"))), "NaN"),
        (lambda t: t.update(features=t["features"].long()), "dtype torch.int64"),
        (lambda t: t.update({"deepstack.0": t["deepstack.0"][..., :4].contiguous()}), "does not match the features"),
        (lambda t: [t.pop(k) for k in list(t) if k.startswith("deepstack.")], "carries its DeepStack levels"),
    ],
)
def test_tampered_tensors_are_refused(tmp_path, change, message):
    path = save_token_set(token_set(), tmp_path / "clip.safetensors")
    tensors = load_file(path)
    change(tensors)
    with pytest.raises(TokenFileError, match=message):
        load_token_set(rewrite(path, tensors))


@settings(max_examples=100)
@given(
    field=st.sampled_from(["grid", "timestamps", "frame_indices", "policy", "seconds_per_group", "hidden_size"]),
    value=st.one_of(st.text(max_size=60), st.from_regex(r"\[[-0-9eE., naNIinfty]{0,40}\]", fullmatch=True)),
)
def test_random_metadata_loads_or_is_refused_in_one_line(tmp_path_factory, field, value):
    path = save_token_set(token_set(), tmp_path_factory.mktemp("fuzz") / "clip.safetensors")
    try:
        loaded = load_token_set(rewrite(path, **{field: value}))
    except TokenFileError as err:
        assert "\n" not in str(err)
    else:
        assert loaded.features.shape == (4, 6, 8)
