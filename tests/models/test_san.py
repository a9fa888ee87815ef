"""SAN (open-vocabulary segmentation: MultimodalEncoderDecoder + SideAdapterCLIPHead + CLIPTextEncoder)
gives MMSegmentation 1.2.2's outputs and losses, and CLIP's tokenizer gives MMSeg's token ids.

Fixtures in tests/data/san come from tools/make_san_fixtures.py (run in the MMSeg reference env): a
shrunk SAN (``overrides`` applied to MMSeg's model dict; ../shared/parity/fill.py weights), its per-layer
class and mask logits, the semantic logits and the training losses for a fixed label map and seed.
"""
from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _shared import FILL, require

from seglab.config import Config
from seglab.registry import MODELS, ConfigError
from seglab.structures import PixelData, SegDataSample

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "san"
NAME = "san-vit-b16_coco-stuff164k-640x640"


@functools.lru_cache(maxsize=1)
def _fill():
    spec = importlib.util.spec_from_file_location("parity_fill", require(FILL))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _decode_tuples(obj: object) -> object:
    if isinstance(obj, dict):
        if set(obj) == {"__tuple__"}:
            return tuple(_decode_tuples(v) for v in obj["__tuple__"])
        return {k: _decode_tuples(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode_tuples(v) for v in obj]
    return obj


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One intra-op thread: on a loaded 2-core machine OpenMP workers waiting for each other dominate."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _meta() -> dict:
    return json.loads((DATA / f"{NAME}.json").read_text())


def _filled(cfg: dict) -> torch.nn.Module:
    model = MODELS.build(cfg)
    fill = _fill().fill
    state = {k: torch.from_numpy(fill(k, tuple(v.shape), v.is_floating_point())) for k, v in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


def _close(ours: torch.Tensor, ref: np.ndarray, what: str) -> None:
    ref_t = torch.from_numpy(np.asarray(ref))
    assert tuple(ours.shape) == tuple(ref_t.shape), f"{what}: shape {tuple(ours.shape)} vs {tuple(ref_t.shape)}"
    err = (ours.float() - ref_t.float()).abs().max().item()
    assert err <= 1e-4 * ref_t.abs().max().item() + 1e-5, f"{what}: max abs error {err}"


def _labels(shape: list[int], boxes: list[list[int]]) -> SegDataSample:
    seg = torch.zeros(shape[2:], dtype=torch.long)
    for y0, y1, x0, x1, label in boxes:
        seg[y0:y1, x0:x1] = label
    hw = tuple(shape[2:])
    sample = SegDataSample(metainfo=dict(img_shape=hw, ori_shape=hw, pad_shape=hw, padding_size=[0, 0, 0, 0]))
    sample.gt_sem_seg = PixelData(data=seg[None])
    return sample


@pytest.mark.parametrize("variant", ["model_cfg", "config_file"])
def test_san_matches_mmseg(variant: str):
    meta = _meta()
    if variant == "model_cfg":
        cfg = _decode_tuples(meta["model_cfg"])
    else:
        cfg = Config.fromfile(str(REPO / "configs" / meta["config"])).model
        cfg = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
        cfg.pop("pretrained", None)
        cfg["data_preprocessor"] = None
        cfg = _merge(cfg, _decode_tuples(meta["overrides"]))
    model = _filled(cfg)
    ref = np.load(DATA / f"{NAME}.npz")
    shape = tuple(meta["input_shape"])
    x = torch.from_numpy(_fill().parity_input(shape))
    with torch.no_grad():
        cls, masks = model(x, mode="tensor")
        assert len(cls) == len(masks) == 2  # deep-supervised layer 1 and the last layer
        for i in range(2):
            _close(cls[i], ref[f"cls_{i}"], f"class logits of layer {i}")
            _close(masks[i], ref[f"mask_{i}"], f"mask logits of layer {i}")
        hw = shape[2:]
        full = model.encode_decode(x, [dict(img_shape=hw, ori_shape=hw, pad_shape=hw)])
        _close(full[:, :, ::4, ::4], ref["full_s4"], "encode_decode")
        pred = model.predict(x)[0].pred_sem_seg.data
    assert torch.equal(pred, full.argmax(1))
    torch.manual_seed(0)
    losses = model.loss(x, [_labels(meta["input_shape"], meta["loss_labels"])])
    ref_losses = {k[len("loss_"):]: float(ref[k]) for k in ref.files if k.startswith("loss_")}
    assert sorted(losses) == sorted(ref_losses)
    for k, v in ref_losses.items():
        assert losses[k].item() == pytest.approx(v, rel=1e-4, abs=1e-6), k


# -- tokenizer ------------------------------------------------------------------------------------------
def test_tokenizer_gives_mmseg_token_ids():
    from seglab.models.text_encoder import clip_tokenizer

    ref = json.loads((DATA / "tokens.json").read_text())
    tok = clip_tokenizer()
    assert tok.vocab_size == 49408 and (tok.sot_id, tok.eot_id) == (49406, 49407)
    assert len(ref["tokens"]) >= 7
    for text, ids in ref["tokens"].items():
        row = tok(text)[0]
        assert row.shape == (77,)
        assert row[: len(ids)].tolist() == ids, text
        assert not row[len(ids):].any(), f"{text!r}: padding must be zeros"
    assert tok.decode(tok.encode("There is a small Traffic Light")) == "there is a small traffic light "


def test_tokenizer_truncates_keeping_the_end_token():
    from seglab.models.text_encoder import clip_tokenizer

    tokens = clip_tokenizer()(["cat " * 100, "dog"], context_length=8)
    assert tokens.shape == (2, 8)
    assert tokens[0, 0] == 49406 and tokens[0, -1] == 49407 and (tokens[0, 1:-1] == tokens[0, 1]).all()
    assert tokens[1, :3].tolist() == [49406, clip_tokenizer().encode("dog")[0], 49407]


def test_tokenizer_names_a_missing_vocabulary_file(tmp_path):
    from seglab.models.text_encoder import CLIPTokenizer

    with pytest.raises(FileNotFoundError, match="bpe_simple_vocab_16e6"):
        CLIPTokenizer(tmp_path / "missing.txt.gz")


# -- text encoder ---------------------------------------------------------------------------------------
TINY_TEXT = dict(type="CLIPTextEncoder", embed_dims=16, num_layers=1, num_heads=2, output_dims=8)


def _text(**kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return MODELS.build({**TINY_TEXT, **kwargs}).eval()


def test_text_encoder_embeds_dataset_classes_and_background():
    enc = _text(dataset_name="voc")
    assert enc.num_classes == 20 and enc.class_names[0] == "aeroplane"  # VOC's 'background' is dropped
    out = enc()
    assert out.shape == (21, 8)
    scale = enc.logit_scale.exp()
    assert torch.allclose(out.norm(dim=-1), scale.expand(21), rtol=1e-5)
    assert torch.allclose(out[-1], scale * torch.nn.functional.normalize(enc.bg_embed[0], dim=0))
    assert [n for n, p in enc.named_parameters() if p.requires_grad] == ["bg_embed"]  # CLIP stays frozen


def test_text_encoder_averages_unit_norm_prompt_embeddings():
    from seglab.models.text_encoder import clip_tokenizer

    enc = _text(vocabulary=["cat", "dog"], templates=["a photo of a {}.", "a {} in the scene"])
    per_template = [enc.encode_text(clip_tokenizer()([t.format(n) for n in ("cat", "dog")]), normalize=True)
                    for t in enc.templates]
    expected = torch.nn.functional.normalize(per_template[0] + per_template[1], dim=-1)
    assert torch.allclose(enc.class_embeddings(), expected, atol=1e-6)


def test_text_encoder_caches_per_class_set_and_forgets_on_load(monkeypatch):
    enc = _text(vocabulary=["cat", "dog"])
    calls = []
    original = enc.template_encode
    monkeypatch.setattr(enc, "template_encode", lambda names: calls.append(tuple(names)) or original(names))
    first = enc()
    assert torch.equal(enc(), first) and calls == [("cat", "dog")]
    enc.set_vocabulary(["dog", "bird", "cat"])
    out = enc()
    assert out.shape == (4, 8) and calls[-1] == ("dog", "bird", "cat")
    # A class's embedding does not depend on the other names asked for (open vocabulary).
    assert torch.allclose(out[0], first[1], atol=1e-6) and torch.allclose(out[2], first[0], atol=1e-6)
    state = {k: torch.randn_like(v) if k == "text_projection" else v for k, v in enc.state_dict().items()}
    enc.load_state_dict(state)
    assert not torch.allclose(enc(), out) and len(calls) == 3  # stale embeddings were dropped


@pytest.mark.parametrize("kwargs,match", [
    (dict(), "exactly one of dataset_name"),
    (dict(dataset_name="voc", vocabulary=["cat"]), "exactly one of dataset_name"),
    (dict(dataset_name="not-a-dataset"), "unknown dataset 'not-a-dataset'"),
    (dict(vocabulary=[]), "non-empty list"),
    (dict(vocabulary=["cat"], templates="nope"), "unknown template set 'nope'"),
    (dict(vocabulary=["cat"], templates=["no placeholder"]), "exactly one '{}'"),
])
def test_text_encoder_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MODELS.build({**TINY_TEXT, **kwargs})


# -- segmentor ------------------------------------------------------------------------------------------
def _tiny_cfg(**text) -> dict:
    cfg = _decode_tuples(_meta()["model_cfg"])
    cfg["text_encoder"] = dict(cfg["text_encoder"], dataset_name=None, vocabulary=["sky", "tree", "person"],
                               **text)
    cfg["decode_head"] = dict(cfg["decode_head"], num_classes=3, loss_decode=[
        dict(cfg["decode_head"]["loss_decode"][0], class_weight=[1.0] * 3 + [0.1]),
        *cfg["decode_head"]["loss_decode"][1:]])
    return cfg


def test_segmentor_loss_backward_reaches_trainable_parameters():
    torch.manual_seed(0)
    model = MODELS.build(_tiny_cfg()).train()
    x = torch.randn(2, 3, 64, 64)
    samples = [_labels([1, 3, 64, 64], [[0, 32, 0, 64, 0], [32, 64, 0, 64, 2]]),
               _labels([1, 3, 64, 64], [[0, 64, 0, 64, 1], [0, 10, 0, 10, 255]])]
    losses = model(x, samples, mode="loss")
    assert sorted(losses) == sorted(f"decode.{p}loss_{n}" for p in ("", "d1.") for n in ("cls_ce", "mask_ce",
                                                                                            "mask_dice"))
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    # CLIP is frozen but for the image position embedding; the side adapter and the background embedding train.
    assert {n for n in trainable if not n.startswith("decode_head.side_adapter_network.")} == {
        "image_encoder.pos_embed", "text_encoder.bg_embed"}
    no_grad = [n for n, p in trainable.items() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad, no_grad
    assert all(p.grad is None for n, p in model.named_parameters() if not p.requires_grad)


def test_segmentor_switches_vocabulary_at_inference():
    torch.manual_seed(0)
    model = MODELS.build(_tiny_cfg()).eval()
    model.dataset_meta = dict(classes=("sky", "tree", "person"), palette=[[1, 1, 1], [2, 2, 2], [3, 3, 3]])
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        three = model.predict(x)[0]
        model.set_vocabulary(["sky", "tree", "person", "car", "road"])
        five = model.predict(x)[0]
        model.test_cfg = dict(mode="slide", crop_size=(64, 64), stride=(32, 32))
        slide = model.predict(x)[0]
    assert three.seg_logits.data.shape == (3, 64, 96) and five.seg_logits.data.shape == (5, 64, 96)
    # The first three classes keep their embeddings, so adding classes can only take probability away.
    assert (five.seg_logits.data[:3] <= three.seg_logits.data + 1e-6).all()
    assert slide.seg_logits.data.shape == (5, 64, 96) and int(slide.pred_sem_seg.data.max()) < 5
    assert model.dataset_meta["classes"] == ("sky", "tree", "person", "car", "road")
    assert len(model.dataset_meta["palette"]) == 5 and model.dataset_meta["palette"][:3] == [[1, 1, 1], [2, 2, 2],
                                                                                           [3, 3, 3]]


def test_pretrained_part_loads_clip_parts_from_one_checkpoint(tmp_path):
    torch.manual_seed(0)
    source = _filled(_tiny_cfg())
    path = tmp_path / "san.pth"
    torch.save({"state_dict": source.state_dict()}, path)
    torch.manual_seed(1)
    model = MODELS.build(dict(_tiny_cfg(), pretrained=str(path)))
    assert model.init_weights()
    ours, ref = model.state_dict(), source.state_dict()
    for prefix in ("image_encoder.", "text_encoder.", "decode_head.rec_with_attnbias."):
        keys = [k for k in ref if k.startswith(prefix) and k != "text_encoder.bg_embed"]
        assert keys and all(torch.equal(ours[k], ref[k]) for k in keys), prefix
    # As MMSeg: the side adapter and the background embedding are not part of the CLIP checkpoint's parts.
    assert not torch.equal(ours["decode_head.side_adapter_network.query_embed"],
                           ref["decode_head.side_adapter_network.query_embed"])


@pytest.mark.parametrize("change,match", [
    (lambda c: c.update(asymetric_input=True, encoder_resolution=None), "encoder_resolution > 0"),
    (lambda c: c["decode_head"].update(num_classes=4), "names 3 classes but decode_head.num_classes=4"),
    (lambda c: c["decode_head"]["maskgen_cfg"].update(sos_token_num=7), "num_queries and maskgen_cfg.sos_token_num"),
    (lambda c: c["decode_head"]["maskgen_cfg"].update(sos_token_format="learnable_token"), "not supported"),
    (lambda c: c["decode_head"]["maskgen_cfg"].update(cross_attn=True), "cross_attn=True"),
    (lambda c: c["decode_head"]["san_cfg"]["cfg_decoder"].update(num_layers=2), "must be 1 or"),
    (lambda c: c["decode_head"]["san_cfg"]["cfg_encoder"].update(depth=2), "unknown \\['depth'\\]"),
    (lambda c: c["decode_head"]["san_cfg"].update(fusion_index=[0, 2, 4, 6]), "fuses only \\[0, 2\\]"),
    (lambda c: c["decode_head"]["train_cfg"].pop("num_points"), "lacks \\['num_points'\\]"),
    (lambda c: c["decode_head"].update(dropout_ratio=0.5), "\\['dropout_ratio'\\] have no effect"),
])
def test_segmentor_rejects_inconsistent_configs(change, match):
    cfg = _tiny_cfg()
    change(cfg)
    with pytest.raises(ConfigError, match=match):
        MODELS.build(cfg)


def test_wrong_class_weight_fails_at_the_first_loss_with_the_fix():
    cfg = _tiny_cfg()
    cfg["decode_head"]["loss_decode"][0]["class_weight"] = [1.0] * 171 + [0.1]
    model = MODELS.build(cfg)  # MMSeg's VOC/Context SAN configs look like this: building must still work
    with pytest.raises(ConfigError, match="172 class weights; it needs num_classes \\+ 1 = 4"):
        model(torch.randn(1, 3, 64, 64), [_labels([1, 3, 64, 64], [[0, 64, 0, 64, 1]])], mode="loss")


def test_text_embeddings_are_float32_under_autocast():
    enc = _text(vocabulary=["cat", "dog"])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cached = enc.class_embeddings()
    assert cached.dtype == torch.float32
    assert torch.equal(cached, enc.class_embeddings())
    assert enc.double().class_embeddings().dtype == torch.float64  # moving the module drops the cache
