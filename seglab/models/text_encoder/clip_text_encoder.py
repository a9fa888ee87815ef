"""CLIP's text transformer (Radford et al. 2021, https://arxiv.org/abs/2103.00020) as MMSeg's
``CLIPTextEncoder``: class names -> prompt-ensembled, L2-normalised class embeddings for open-vocabulary
segmentation (SAN).

State-dict keys (MMSeg's): ``token_embedding.weight``, ``positional_embedding``, ``transformer.{i}.``
(``attentions.0``, ``ffns.0``, ``norms.0/1``), ``ln_final``, ``text_projection``, ``logit_scale``,
``bg_embed``. The transformer is frozen (as in MMSeg); only ``bg_embed`` (the "no class" embedding) trains.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ...registry import MODELS, ConfigError
from ..layers import build_norm_layer
from ..layers.prenorm_transformer_layer import PreNormTransformerLayer
from ..weight_init import load_pretrained
from .tokenizer import DEFAULT_BPE_PATH, clip_tokenizer
from .vocabulary import dataset_class_names, prompt_templates

__all__ = ["CLIPTextEncoder"]


@MODELS.register_module()
class CLIPTextEncoder(nn.Module):
    """``forward()`` -> (K [+ 1], output_dims) class embeddings times ``exp(logit_scale)``.

    The classes are ``dataset_name``'s (an MMSeg alias; a leading 'background' is dropped) or
    ``vocabulary``; ``set_vocabulary`` switches them at run time. Each class is written into every
    prompt template, encoded, normalised and averaged over the templates. With ``cache_feature`` the
    embeddings of a class set are computed once (the cache is emptied when weights load or the module
    moves); with ``cat_bg`` the learnt ``bg_embed`` is appended as the last class.
    """

    def __init__(
        self,
        dataset_name: str | None = None,
        vocabulary: Sequence[str] | None = None,
        templates: str | Sequence[str] = "vild",
        total_vocab_size: int = 49408,
        context_length: int = 77,
        embed_dims: int = 512,
        num_layers: int = 12,
        num_heads: int = 8,
        mlp_ratio: int = 4,
        output_dims: int = 512,
        cache_feature: bool = True,
        cat_bg: bool = True,
        norm_cfg: dict = dict(type="LN"),
        bpe_path: str = DEFAULT_BPE_PATH,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__()
        if (dataset_name is None) == (vocabulary is None):
            raise ConfigError("CLIPTextEncoder: give exactly one of dataset_name (e.g. 'coco-stuff164k') and "
                              f"vocabulary (a list of class names); got dataset_name={dataset_name!r}, "
                              f"vocabulary={vocabulary!r}")
        self.templates = prompt_templates(templates)
        self.dataset_name = dataset_name
        self.class_names = self._resolve_classes(dataset_name, vocabulary)
        self.context_length = context_length
        self.bpe_path = bpe_path
        self.init_cfg = init_cfg
        self.token_embedding = nn.Embedding(total_vocab_size, embed_dims)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, embed_dims))
        self.text_projection = nn.Parameter(torch.empty(embed_dims, output_dims))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.transformer = nn.ModuleList([
            PreNormTransformerLayer(embed_dims, num_heads, mlp_ratio * embed_dims, act_cfg=dict(type="QuickGELU"),
                                    norm_cfg=norm_cfg)
            for _ in range(num_layers)
        ])
        self.ln_final = build_norm_layer(norm_cfg, embed_dims)[1]
        # Causal: token i sees tokens <= i; not saved (MMSeg's is not persistent either).
        causal = torch.full((context_length, context_length), float("-inf")).triu_(1)
        self.register_buffer("attn_mask", causal, persistent=False)
        for param in self.parameters():
            param.requires_grad = False
        self.cat_bg = cat_bg
        if cat_bg:
            self.bg_embed = nn.Parameter(torch.randn(1, output_dims))
        self.cache_feature = cache_feature
        self._cache: dict[tuple[str, ...], torch.Tensor] = {}
        self._register_load_state_dict_pre_hook(lambda *args, **kwargs: self._cache.clear())
        self._default_init()

    @staticmethod
    def _resolve_classes(dataset_name: str | None, vocabulary: Sequence[str] | None) -> list[str]:
        if dataset_name is not None:
            names = dataset_class_names(dataset_name)
            return names[1:] if names and names[0].lower() == "background" else names
        names = [vocabulary] if isinstance(vocabulary, str) else list(vocabulary)
        if not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise ConfigError(f"CLIPTextEncoder: vocabulary must be a non-empty list of class names, got {vocabulary!r}")
        return names

    def set_vocabulary(self, class_names: Sequence[str]) -> None:
        """Use ``class_names`` (in label order) as the classes from now on (open-vocabulary inference)."""
        self.class_names = self._resolve_classes(None, class_names)
        self.dataset_name = None

    @property
    def num_classes(self) -> int:
        """Number of named classes (without the background embedding)."""
        return len(self.class_names)

    def _default_init(self) -> None:
        # CLIP's initialisation (MMSeg leaves these tensors uninitialised until weights load).
        width = self.token_embedding.embedding_dim
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=width**-0.5)
        if self.cat_bg:
            nn.init.normal_(self.bg_embed, std=self.bg_embed.shape[1] ** -0.5)

    def init_weights(self) -> bool:
        """CLIP's init, then the weights under ``text_encoder.`` of a ``Pretrained_Part`` checkpoint (MMSeg's)."""
        self._default_init()
        self._cache.clear()
        cfg = self.init_cfg
        if cfg is None:
            return False
        if not isinstance(cfg, dict) or cfg.get("type") not in ("Pretrained", "Pretrained_Part"):
            raise ConfigError(f"CLIPTextEncoder: init_cfg supports type='Pretrained' or 'Pretrained_Part', got {cfg!r}")
        prefix = "text_encoder." if cfg["type"] == "Pretrained_Part" else cfg.get("prefix")
        return load_pretrained(self, dict(cfg, type="Pretrained", prefix=prefix), "CLIPTextEncoder")

    def _apply(self, fn, *args, **kwargs):  # noqa: ANN001, ANN202 - nn.Module's signature
        self._cache.clear()  # cached embeddings live on the old device/dtype
        return super()._apply(fn, *args, **kwargs)

    @torch.no_grad()
    def encode_text(self, tokens: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """tokens (N, context_length) -> (N, output_dims): the feature at each text's end token."""
        tokens = tokens.to(self.token_embedding.weight.device)
        x = self.token_embedding(tokens) + self.positional_embedding
        x = x.permute(1, 0, 2)  # (L, N, C)
        for layer in self.transformer:
            x = layer(x, attn_mask=self.attn_mask)
        x = self.ln_final(x.permute(1, 0, 2))
        # The end token has the largest id, so argmax finds it.
        x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)] @ self.text_projection
        return F.normalize(x, dim=-1) if normalize else x

    def template_encode(self, class_names: Sequence[str]) -> torch.Tensor:
        """(K, output_dims) unit-norm class embeddings, averaged over the prompt templates."""
        tokenizer = clip_tokenizer(self.bpe_path)
        # Always float32: the result is cached and reused, also outside the mixed-precision region it was
        # first asked for in.
        with torch.autocast(self.token_embedding.weight.device.type, enabled=False):
            per_template = [
                self.encode_text(tokenizer([t.format(n) for n in class_names], self.context_length), normalize=True)
                for t in self.templates
            ]
        return F.normalize(torch.stack(per_template).mean(dim=0), dim=-1)

    def class_embeddings(self) -> torch.Tensor:
        """(K, output_dims) unit-norm embeddings of the current classes (cached per class set)."""
        key = tuple(self.class_names)
        if not self.cache_feature:
            return self.template_encode(key)
        if key not in self._cache:
            self._cache[key] = self.template_encode(key)
        return self._cache[key]

    def forward(self) -> torch.Tensor:
        """(K [+ 1], output_dims): ``exp(logit_scale)`` times the unit-norm class (and background) embeddings."""
        embeds = self.class_embeddings()
        if self.cat_bg:
            embeds = F.normalize(torch.cat([embeds, self.bg_embed]), dim=-1)
        return self.logit_scale.exp() * embeds
