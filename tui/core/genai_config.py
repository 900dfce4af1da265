"""ONNX Runtime GenAI's ``genai_config.json``: validation as the runtime's own loader does it.

The schema is a transcription of ``src/config.cpp`` of microsoft/onnxruntime-genai (commit
a0c04eb, August 2026): each ``*_Element`` there is one entry of :data:`SCHEMA`, with the keys it
accepts and the JSON type each one must have. That loader is strict, and so is this check:

- an unknown key, in any section, is an error (``Unknown value "x"``: the loader throws), except
  where the runtime takes any key (``session_options`` entries become ORT config entries,
  ``provider_options``, ``run_options``); scalars at the top level are ignored, as there;
- a value of the wrong JSON type is an error (``Expected a number but saw a string``); an integer
  field must hold a whole number within int32 (``SafeDoubleToInt``); ``null`` is never accepted;
- after loading: ``model.context_length`` must be set and above 0 (but for RNNT models), file
  paths must be relative and stay inside the model folder (``ValidateModelPaths``),
  ``model.type`` must be one the runtime creates a model for (``model.cpp``; an unknown type is
  a warning, since newer runtimes add types).

``search`` is read: it holds the generation defaults (``max_length`` 0 means
``context_length``). Pure Python.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tui.core.diagnostics import Diagnostic, LineIndex, sort_diagnostics
from tui.core.inference_model import (  # one JSON locator for both files
    _Checker,
    _json_type,
    _reject_constant,
)

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Element:
    """What one ``JSON::Element`` of ``config.cpp`` accepts.

    ``values``: scalar keys and their type (``string``, ``int``, ``number``, ``bool``);
    ``values_any``: the type of any other scalar key (``ignored`` at the top level; None: an
    unknown key is an error). ``objects``/``arrays``: keys holding an object / array and the
    element that reads it; ``*_any``: the element for any other key (None: error).
    """

    values: dict[str, str] = field(default_factory=dict)
    values_any: str | None = None
    objects: dict[str, str] = field(default_factory=dict)
    objects_any: str | None = None
    arrays: dict[str, str] = field(default_factory=dict)
    arrays_any: str | None = None


def _el(**kwargs: Any) -> Element:
    return Element(**kwargs)


# fmt: off
SCHEMA: dict[str, Element] = {
    'NamedStrings': _el(values_any='string'),
    'Int_Array': _el(values_any='int'),
    'DeviceFilteringOptions': _el(values={'hardware_device_type': 'string', 'hardware_device_id': 'number', 'hardware_vendor_id': 'number'}),
    'ProviderOptions': _el(values_any='string', objects={'device_filtering_options': 'DeviceFilteringOptions'}),
    'ProviderOptionsObject': _el(objects_any='ProviderOptions'),
    'ProviderOptionsArray': _el(objects_any='ProviderOptionsObject'),
    'SessionOptions': _el(values={'log_id': 'string', 'enable_profiling': 'string', 'intra_op_num_threads': 'int', 'inter_op_num_threads': 'int', 'log_severity_level': 'int', 'log_verbosity_level': 'int', 'enable_cpu_mem_arena': 'bool', 'enable_mem_pattern': 'bool', 'graph_optimization_level': 'string', 'custom_ops_library': 'string'}, values_any='string', arrays={'provider_options': 'ProviderOptionsArray'}),
    'RunOptions': _el(values_any='string'),
    'EncoderInputs': _el(values={'input_ids': 'string', 'inputs_embeds': 'string', 'attention_mask': 'string', 'position_ids': 'string', 'audio_features': 'string', 'input_lengths': 'string', 'cache_last_channel': 'string', 'cache_last_time': 'string', 'cache_last_channel_len': 'string', 'lang_id': 'string'}),
    'EncoderOutputs': _el(values={'encoder_hidden_states': 'string', 'encoder_outputs': 'string', 'output_lengths': 'string', 'cache_last_channel_next': 'string', 'cache_last_time_next': 'string', 'cache_last_channel_len_next': 'string', 'cross_present_key_names': 'string', 'cross_present_value_names': 'string'}),
    'DecoderInputs': _el(values={'input_ids': 'string', 'inputs_embeds': 'string', 'attention_mask': 'string', 'position_ids': 'string', 'past_key_names': 'string', 'past_value_names': 'string', 'past_names': 'string', 'cross_past_key_names': 'string', 'cross_past_value_names': 'string', 'past_sequence_length': 'string', 'current_sequence_length': 'string', 'total_sequence_length': 'string', 'encoder_hidden_states': 'string', 'encoder_attention_mask': 'string', 'rnn_states_prev': 'string', 'past_key_values_length': 'string', 'cache_indirection': 'string', 'cumulative_sequence_lengths': 'string', 'past_sequence_lengths': 'string', 'block_table': 'string', 'block_table_windowed': 'string', 'attention_metadata': 'string', 'past_conv_names': 'string', 'hidden_states': 'string', 'targets': 'string', 'lstm_hidden_state': 'string', 'lstm_cell_state': 'string', 'per_layer_inputs': 'string', 'targets_length': 'string'}),
    'DecoderOutputs': _el(values={'logits': 'string', 'present_key_names': 'string', 'present_value_names': 'string', 'present_names': 'string', 'output_cross_qk_names': 'string', 'rnn_states': 'string', 'present_conv_names': 'string', 'hidden_states': 'string', 'outputs': 'string', 'lstm_hidden_state': 'string', 'lstm_cell_state': 'string', 'outputs_length': 'string'}),
    'StringArray': _el(values_any='string'),
    'IntArray': _el(values_any='int'),
    'Int64Array': _el(values_any='int'),
    'SharedInitializer': _el(values={'name': 'string', 'data_file': 'string', 'offset': 'string', 'length': 'string', 'data_type': 'int'}, arrays={'shape': 'Int64Array'}),
    'SharedInitializers': _el(objects_any='SharedInitializer'),
    'StringStringMap': _el(values_any='string'),
    'PipelineModel': _el(values={'filename': 'string', 'run_on_prompt': 'bool', 'run_on_token_gen': 'bool', 'is_lm_head': 'bool', 'inherit_session_options': 'bool', 'reset_session_idx': 'int'}, objects={'session_options': 'SessionOptions', 'run_options': 'RunOptions', 'output_names_forwarder': 'StringStringMap'}, arrays={'inputs': 'StringArray', 'outputs': 'StringArray'}),
    'PipelineModelObject': _el(objects_any='PipelineModel'),
    'Pipeline': _el(objects_any='PipelineModelObject'),
    'SlidingWindow': _el(values={'window_size': 'int', 'pad_value': 'int', 'alignment': 'string', 'slide_key_value_cache': 'bool', 'slide_inputs': 'bool', 'cache_slack': 'int'}, arrays={'layers': 'IntArray'}),
    'Encoder': _el(values={'filename': 'string', 'hidden_size': 'int', 'num_attention_heads': 'int', 'num_hidden_layers': 'int', 'num_key_value_heads': 'int', 'head_size': 'int'}, objects={'session_options': 'SessionOptions', 'run_options': 'RunOptions', 'inputs': 'EncoderInputs', 'outputs': 'EncoderOutputs'}),
    'Decoder': _el(values={'filename': 'string', 'hidden_size': 'int', 'num_attention_heads': 'int', 'num_hidden_layers': 'int', 'num_key_value_heads': 'int', 'head_size': 'int', 'conv_cache_size': 'int'}, objects={'session_options': 'SessionOptions', 'run_options': 'RunOptions', 'inputs': 'DecoderInputs', 'outputs': 'DecoderOutputs', 'sliding_window': 'SlidingWindow', 'pipeline': 'PipelineModelObject'}, arrays={'pipeline': 'Pipeline', 'layer_types': 'StringArray', 'shared_initializers': 'SharedInitializers'}),
    'MtpInputs': _el(values={'input_ids': 'string', 'hidden_states': 'string', 'attention_mask': 'string', 'position_ids': 'string', 'past_key_names': 'string', 'past_value_names': 'string'}),
    'MtpOutputs': _el(values={'logits': 'string', 'hidden_states': 'string', 'present_key_names': 'string', 'present_value_names': 'string'}),
    'Mtp': _el(values={'filename': 'string', 'num_hidden_layers': 'int', 'num_key_value_heads': 'int', 'head_size': 'int', 'main_hidden_states': 'string'}, objects={'session_options': 'SessionOptions', 'run_options': 'RunOptions', 'inputs': 'MtpInputs', 'outputs': 'MtpOutputs'}, arrays={'shared_initializers': 'SharedInitializers'}),
    'VisionInputs': _el(values={'pixel_values': 'string', 'pixel_position_ids': 'string', 'image_sizes': 'string', 'image_grid_thw': 'string', 'attention_mask': 'string'}),
    'VisionOutputs': _el(values={'image_features': 'string'}),
    'VisionPipelineModel': _el(values={'filename': 'string', 'run_on_cpu': 'bool'}, objects={'session_options': 'SessionOptions', 'run_options': 'RunOptions'}, arrays={'inputs': 'StringArray', 'outputs': 'StringArray'}),
    'VisionPipelineModelObject': _el(objects_any='VisionPipelineModel'),
    'VisionPipeline': _el(objects_any='VisionPipelineModelObject'),
    'Vision': _el(values={'filename': 'string', 'config_filename': 'string', 'adapter_filename': 'string', 'spatial_merge_size': 'int', 'tokens_per_second': 'number', 'patch_size': 'int', 'num_visual_tokens': 'int', 'window_size': 'int'}, objects={'session_options': 'SessionOptions', 'run_options': 'RunOptions', 'inputs': 'VisionInputs', 'outputs': 'VisionOutputs', 'pipeline': 'VisionPipelineModelObject'}, arrays={'pipeline': 'VisionPipeline'}),
    'SpeechInputs': _el(values={'audio_embeds': 'string', 'attention_mask': 'string', 'audio_sizes': 'string', 'audio_projection_mode': 'string'}),
    'SpeechOutputs': _el(values={'audio_features': 'string'}),
    'Speech': _el(values={'filename': 'string', 'config_filename': 'string', 'adapter_filename': 'string'}, objects={'session_options': 'SessionOptions', 'run_options': 'RunOptions', 'inputs': 'SpeechInputs', 'outputs': 'SpeechOutputs'}),
    'JoinerInputs': _el(values={'encoder_outputs': 'string', 'decoder_outputs': 'string'}),
    'JoinerOutputs': _el(values={'logits': 'string'}),
    'Joiner': _el(values={'filename': 'string'}, objects={'session_options': 'SessionOptions', 'run_options': 'RunOptions', 'inputs': 'JoinerInputs', 'outputs': 'JoinerOutputs'}),
    'VAD': _el(values={'filename': 'string', 'threshold': 'number', 'silence_duration_ms': 'int', 'prefix_padding_ms': 'int'}, objects={'session_options': 'SessionOptions', 'run_options': 'RunOptions'}),
    'EmbeddingInputs': _el(values={'input_ids': 'string', 'image_features': 'string', 'audio_features': 'string'}),
    'EmbeddingOutputs': _el(values={'inputs_embeds': 'string', 'per_layer_inputs': 'string'}),
    'Embedding': _el(values={'filename': 'string'}, objects={'session_options': 'SessionOptions', 'run_options': 'RunOptions', 'inputs': 'EmbeddingInputs', 'outputs': 'EmbeddingOutputs'}),
    'Model': _el(values={'type': 'string', 'tokenizer_dir': 'string', 'vocab_size': 'int', 'context_length': 'int', 'pad_token_id': 'int', 'eos_token_id': 'int', 'bos_token_id': 'int', 'decoder_start_token_id': 'int', 'sep_token_id': 'int', 'image_token_id': 'int', 'audio_token_id': 'int', 'boa_token_id': 'int', 'video_token_id': 'int', 'vision_start_token_id': 'int', 'num_mels': 'int', 'fft_size': 'int', 'hop_length': 'int', 'win_length': 'int', 'preemph': 'number', 'log_eps': 'number', 'norm_eps': 'number', 'subsampling_factor': 'int', 'left_context': 'int', 'conv_context': 'int', 'pre_encode_cache_size': 'int', 'sample_rate': 'int', 'chunk_samples': 'int', 'blank_id': 'int', 'max_symbols_per_step': 'int', 'left_context_samples': 'int', 'right_context_samples': 'int', 'bot_token_id': 'int', 'eot_token_id': 'int', 'bor_token_id': 'int', 'eor_token_id': 'int'}, objects={'encoder': 'Encoder', 'decoder': 'Decoder', 'draft': 'Decoder', 'vision': 'Vision', 'embedding': 'Embedding', 'speech': 'Speech', 'joiner': 'Joiner', 'vad': 'VAD', 'mtp': 'Mtp'}, arrays={'eos_token_id': 'Int_Array', 'tdt_durations': 'Int_Array'}),
    'Search': _el(values={'min_length': 'int', 'max_length': 'int', 'batch_size': 'int', 'num_beams': 'int', 'num_return_sequences': 'int', 'top_k': 'int', 'top_p': 'number', 'temperature': 'number', 'repetition_penalty': 'number', 'length_penalty': 'number', 'no_repeat_ngram_size': 'int', 'diversity_penalty': 'number', 'random_seed': 'int', 'chunk_size': 'number', 'do_sample': 'bool', 'past_present_share_buffer': 'bool', 'early_stopping': 'bool', 'blank_penalty': 'number'}),
    'Speculative': _el(values={'max_draft_tokens': 'int', 'ngram_size': 'int', 'ngram_chained_lookup': 'bool', 'min_adaptive_k': 'int', 'cooldown': 'bool'}),
    'DynamicBatching': _el(values={'block_size': 'int', 'num_blocks': 'int', 'gpu_utilization_factor': 'number', 'max_batch_size': 'int', 'max_scheduled_tokens': 'int'}),
    'StaticBatching': _el(values={'max_batch_size': 'number'}),
    'Engine': _el(objects={'dynamic_batching': 'DynamicBatching', 'static_batching': 'StaticBatching'}),
    'Root': _el(values_any='ignored', objects={'model': 'Model', 'search': 'Search', 'speculative': 'Speculative', 'engine': 'Engine'}),
}
# fmt: on
"""Every element of ``config.cpp``, by name without ``_Element``; the file is read by ``Root``."""

SEARCH_DEFAULTS: dict[str, Any] = {
    "do_sample": False,
    "max_length": 0,
    "min_length": 0,
    "temperature": 1.0,
    "top_k": 0,
    "top_p": 0.0,
    "repetition_penalty": 1.0,
    "num_beams": 1,
    "num_return_sequences": 1,
    "early_stopping": True,
    "no_repeat_ngram_size": 0,
    "length_penalty": 1.0,
    "past_present_share_buffer": False,
    "random_seed": -1,
}
"""``Config::Search`` defaults (``src/config.h``): what an absent key means."""

MODEL_TYPES: frozenset[str] = frozenset(
    # src/models/model_type.h and CreateModel in src/models/model.cpp
    [
        "chatglm",
        "decoder",
        "ernie4_5",
        "gemma",
        "gemma2",
        "gemma3_text",
        "gemma4_text",
        "gpt2",
        "gptoss",
        "granite",
        "granitemoehybrid",
        "hunyuandensev1",
        "internlm2",
        "lfm2",
        "llama",
        "mistral",
        "nemotron",
        "olmo",
        "phi",
        "phimoe",
        "phi3",
        "phi3small",
        "qwen2",
        "qwen3",
        "qwen3_5_moe_text",
        "qwen3_5_text",
        "smollm3",
        "fara",
        "gemma3",
        "mistral3",
        "phi3v",
        "qwen2_5_vl",
        "qwen3_vl",
        "qwen3_5",
        "qwen3_5_moe",
        "videochat_flash_qwen",
        "whisper",
        "nemotron_speech",
        "parakeet_tdt",
        "gemma4",
        "phi4mm",
        "decoder-pipeline",
        "marian-ssru",
    ]
)
"""The ``model.type`` values ONNX Runtime GenAI creates a model for."""

RNNT_TYPES = frozenset({"nemotron_speech"})

_INT32 = (-(2**31), 2**31 - 1)
_PATH_KEYS = ("filename", "config_filename", "adapter_filename")
_PATH_SECTIONS = (
    "encoder",
    "decoder",
    "draft",
    "vision",
    "speech",
    "embedding",
    "joiner",
    "vad",
    "mtp",
)


class _Walker:
    def __init__(self, check: _Checker) -> None:
        self.check = check

    def error(self, path: Path, message: str, code: str, *, at_key: bool = False) -> None:
        self.check.add(path, "error", message, code, at_key=at_key)

    def element(self, name: str, value: Any, path: Path) -> None:
        """Feed ``value`` (an object or an array) to element ``name``, as JSON::Parse does."""
        el = SCHEMA[name]
        items: Iterator[tuple[str | int, str, Any]]
        if isinstance(value, dict):
            items = ((k, k, v) for k, v in value.items())
        else:
            items = ((i, "", v) for i, v in enumerate(value))
        for step, key, v in items:
            child = (*path, step)
            if isinstance(v, dict):
                target = el.objects.get(key, el.objects_any)
                if target is None:
                    self.unknown(child, "an object", el)
                else:
                    self.element(target, v, child)
            elif isinstance(v, list):
                target = el.arrays.get(key, el.arrays_any)
                if target is None:
                    self.unknown(child, "an array", el)
                else:
                    self.element(target, v, child)
            else:
                kind = el.values.get(key, el.values_any)
                if kind is None:
                    self.unknown(child, "a value", el)
                elif kind != "ignored":
                    self.scalar(child, key, v, kind)

    def unknown(self, path: Path, what: str, el: Element) -> None:
        key = path[-1]
        if isinstance(key, int):
            self.error(path, f"ONNX Runtime GenAI does not take {what} here", "wrong-type")
            return
        known = [*el.values, *el.objects, *el.arrays]
        if key in known:
            self.error(
                path,
                f"must not be {what} here ({_json_type_of_slot(el, key)})",
                "wrong-type",
            )
            return
        close = next((k for k in known if k.lower() == key.lower()), None)
        hint = f" (did you mean {close!r}? keys are case-sensitive)" if close else ""
        self.error(
            path,
            f'unknown key: ONNX Runtime GenAI fails to load with Unknown value "{key}"{hint}',
            "unknown-key",
            at_key=True,
        )

    def scalar(self, path: Path, key: str, v: Any, kind: str) -> None:
        if kind == "string":
            ok = isinstance(v, str)
        elif kind == "bool":
            ok = isinstance(v, bool)
        else:
            ok = isinstance(v, int | float) and not isinstance(v, bool)
        if not ok:
            expected = {"string": "a string", "bool": "a boolean"}.get(kind, "a number")
            self.error(path, f"must be {expected}, not {_json_type(v)}", "wrong-type")
            return
        if kind == "int":
            if not math.isfinite(v) or not _INT32[0] <= v <= _INT32[1]:
                self.error(path, f"{v} is out of int32 range", "out-of-range")
            elif v != math.trunc(v):
                self.error(path, f"{v} is not an integer", "wrong-type")


def _json_type_of_slot(el: Element, key: str) -> str:
    if key in el.values:
        return {"string": "a string", "bool": "a boolean"}.get(el.values[key], "a number")
    if key in el.objects and key in el.arrays:
        return "an object or an array"
    return "an object" if key in el.objects else "an array"


def _load(text: str) -> tuple[Any, list[Diagnostic]]:
    index = LineIndex(text)
    start = 1 if text.startswith("\ufeff") else 0
    try:
        return json.loads(text[start:], parse_constant=_reject_constant), []
    except json.JSONDecodeError as exc:
        return None, [
            index.diagnostic(
                exc.pos + start, None, "error", f"invalid JSON: {exc.msg}", "json-syntax"
            )
        ]
    except (ValueError, RecursionError) as exc:
        pos = next((m.start() for m in re.finditer(r"NaN|-?Infinity", text)), 0)
        return None, [index.diagnostic(pos, None, "error", f"invalid JSON: {exc}", "json-syntax")]


def validate_text(text: str) -> tuple[dict[str, Any] | None, list[Diagnostic]]:
    """Parse and check a ``genai_config.json``; (data or None, diagnostics). Never raises."""
    data, diags = _load(text)
    if diags:
        return None, diags
    start = 1 if text.startswith("\ufeff") else 0
    try:
        check = _Checker(text, start)
    except RecursionError:
        return None, [Diagnostic(1, 1, "error", "invalid JSON: nested too deeply", "json-syntax")]
    if not isinstance(data, dict):
        check.add(
            (), "error", f"must be an object, not {_json_type(data)}", "wrong-type", at_key=False
        )
        return None, sort_diagnostics(check.diags)
    for path, key_at in check.loc.duplicates:
        check.diags.append(
            check.index.diagnostic(
                key_at,
                None,
                "warning",
                f"{_path(path)}: key given twice; the last one is used",
                "duplicate-key",
            )
        )
    try:
        _Walker(check).element("Root", data, ())
    except RecursionError:
        return None, [Diagnostic(1, 1, "error", "invalid JSON: nested too deeply", "json-syntax")]
    _after_load(check, data)
    return data, sort_diagnostics(check.diags)


def _path(path: Path) -> str:
    from tui.core.inference_model import json_path

    return json_path(path)


def _after_load(check: _Checker, data: dict[str, Any]) -> None:
    model = data.get("model")
    if not isinstance(model, dict):
        check.add(
            (),
            "error",
            "no model object: ONNX Runtime GenAI needs model.type, "
            "model.context_length and model.decoder",
            "missing-key",
            at_key=False,
        )
        return
    mtype = model.get("type")
    if "type" not in model:
        check.add(
            ("model",),
            "error",
            "missing type: Unsupported model_type in config.json",
            "missing-key",
            at_key=True,
        )
    elif isinstance(mtype, str) and mtype not in MODEL_TYPES:
        check.add(
            ("model", "type"),
            "warning",
            f"{mtype!r} is not a model type this checker's "
            "ONNX Runtime GenAI (a0c04eb) creates; an older or newer runtime may",
            "unknown-model-type",
            at_key=False,
        )
    ctx = model.get("context_length")
    if mtype not in RNNT_TYPES and (
        not isinstance(ctx, int | float) or isinstance(ctx, bool) or ctx <= 0
    ):
        where: Path = ("model", "context_length") if "context_length" in model else ("model",)
        check.add(
            where,
            "error",
            "context_length must be set and greater than 0",
            "missing-key" if "context_length" not in model else "out-of-range",
            at_key="context_length" not in model,
        )
    for path, value in file_references(data):
        if not isinstance(value, str) or not value:
            continue
        if value.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", value):
            check.add(
                path, "error", "must be a path relative to the model folder", "path", at_key=False
            )
        elif ".." in re.split(r"[\\/]", value):
            check.add(path, "error", "must not leave the model folder (..)", "path", at_key=False)
    search = data.get("search")
    if isinstance(search, dict):
        for key, (lo, hi, words) in _SEARCH_RANGES.items():
            v = search.get(key)
            if isinstance(v, int | float) and not isinstance(v, bool) and not lo <= v <= hi:
                check.add(
                    ("search", key),
                    "warning",
                    f"is {v}; expected {words}",
                    "out-of-range",
                    at_key=False,
                )


_SEARCH_RANGES: dict[str, tuple[float, float, str]] = {
    "temperature": (0, math.inf, "0 or more"),
    "top_p": (0, 1, "between 0 and 1"),
    "top_k": (0, math.inf, "0 or more"),
    "num_beams": (1, math.inf, "at least 1"),
    "max_length": (0, math.inf, "0 (context_length) or more"),
}


def file_references(data: dict[str, Any]) -> list[tuple[Path, Any]]:
    """Every file the config names, with its JSON path (``model.decoder.filename``, …).

    Pipeline stages (``model.decoder.pipeline``, ``model.vision.pipeline``) are included, in
    both the array and the object form.
    """
    model = data.get("model")
    out: list[tuple[Path, Any]] = []
    if not isinstance(model, dict):
        return out
    for section in _PATH_SECTIONS:
        sec = model.get(section)
        if not isinstance(sec, dict):
            continue
        for key in _PATH_KEYS:
            if key in sec:
                out.append((("model", section, key), sec[key]))
        pipeline = sec.get("pipeline")
        stages: list[tuple[Path, Any]] = []
        if isinstance(pipeline, list):
            for i, item in enumerate(pipeline):
                if isinstance(item, dict):
                    stages.extend(((i, k), v) for k, v in item.items())
        elif isinstance(pipeline, dict):
            stages.extend(((k,), v) for k, v in pipeline.items())
        for sub, stage in stages:
            if isinstance(stage, dict) and "filename" in stage:
                out.append((("model", section, "pipeline", *sub, "filename"), stage["filename"]))
    return out


def weight_files(data: dict[str, Any]) -> list[str]:
    """The ONNX files the runtime opens (``filename`` keys, not processor configs)."""
    return [
        v
        for path, v in file_references(data)
        if path[-1] == "filename" and isinstance(v, str) and v
    ]
