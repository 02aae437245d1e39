"""Tiny random-weight VLMs built locally (oculo.testing): they must load and run like real ones."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
pytest.importorskip("torchvision")

from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402

from oculo.testing import ARCHES, make_image, tiny_model  # noqa: E402

# PaliGemma's processor builds its training labels with np.array(tensor), which numpy 2 warns about.
PALIGEMMA_NUMPY_WARNING = "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
pytestmark = pytest.mark.filterwarnings(PALIGEMMA_NUMPY_WARNING)

REQUIRED = ("qwen2_vl", "qwen2_5_vl", "llava_next")

EXPECTED_CLASSES = {
    "qwen2_vl": ("Qwen2VLProcessor", "Qwen2VLImageProcessor", "Qwen2Tokenizer", "Qwen2VLForConditionalGeneration"),
    "qwen2_5_vl": (
        "Qwen2_5_VLProcessor",
        "Qwen2VLImageProcessor",
        "Qwen2Tokenizer",
        "Qwen2_5_VLForConditionalGeneration",
    ),
    "llava_next": (
        "LlavaNextProcessor",
        "LlavaNextImageProcessor",
        "TokenizersBackend",
        "LlavaNextForConditionalGeneration",
    ),
    "idefics3": (
        "Idefics3Processor",
        "Idefics3ImageProcessor",
        "TokenizersBackend",
        "Idefics3ForConditionalGeneration",
    ),
    "gemma3": ("Gemma3Processor", "Gemma3ImageProcessor", "TokenizersBackend", "Gemma3ForConditionalGeneration"),
    "mllama": ("MllamaProcessor", "MllamaImageProcessor", "TokenizersBackend", "MllamaForConditionalGeneration"),
    "paligemma": (
        "PaliGemmaProcessor",
        "SiglipImageProcessor",
        "TokenizersBackend",
        "PaliGemmaForConditionalGeneration",
    ),
    "internvl": ("InternVLProcessor", "GotOcr2ImageProcessor", "Qwen2Tokenizer", "InternVLForConditionalGeneration"),
    "smolvlm": ("SmolVLMProcessor", "SmolVLMImageProcessor", "TokenizersBackend", "SmolVLMForConditionalGeneration"),
}

# PaliGemma (1 and 2) ships no chat template: a task prefix follows the image placeholders.
NO_CHAT_TEMPLATE = {"paligemma"}
# Templates that read a message's content as a list of parts only (as SmolVLM's real one does).
PARTS_ONLY_TEMPLATE = {"smolvlm"}
# Templates that refuse a system message next to images (Llama 3.2 Vision's real one does).
NO_SYSTEM_WITH_IMAGES = {"mllama"}

# The placeholder each chat template writes per image (before the processor expands it).
IMAGE_PLACEHOLDER = {
    "qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>",
    "qwen2_5_vl": "<|vision_start|><|image_pad|><|vision_end|>",
    "llava_next": "<image>\n",
    "idefics3": "<image>",
    "gemma3": "<start_of_image>",
    "mllama": "<|image|>",
    "internvl": "<IMG_CONTEXT>\n",
    "smolvlm": "<image>",
}

GENERATION_PROMPT_SUFFIX = {
    "qwen2_vl": "<|im_start|>assistant\n",
    "qwen2_5_vl": "<|im_start|>assistant\n",
    "llava_next": "ASSISTANT:",
    "idefics3": "Assistant:",
    "gemma3": "<start_of_turn>model\n",
    "mllama": "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "internvl": "<|im_start|>assistant\n",
    "smolvlm": "Assistant:",
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _messages(question: str, system: str | None = None, *, parts_only: bool = False) -> list[dict]:
    system_content = [{"type": "text", "text": system}] if parts_only else system
    messages = [{"role": "system", "content": system_content}] if system else []
    messages.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]})
    return messages


def _render(processor, messages) -> str:
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def _prompt(built, question: str) -> str:
    """A one-image prompt in the architecture's own format."""
    if built.arch in NO_CHAT_TEMPLATE:
        return built.processor.image_token + question  # the processor adds "<bos>" and the closing "\n"
    return _render(built.processor, _messages(question))


def _generate_inputs(inputs) -> dict:
    return {k: v for k, v in inputs.items() if k != "labels"}  # PaliGemma's processor adds training labels


def _call_kwargs(processor, text: str) -> dict:
    # Like ProcessorMixin.apply_chat_template(tokenize=True): a template that already writes BOS
    # (Gemma 3) must not get a second one from the tokenizer.
    bos = processor.tokenizer.bos_token
    return {"add_special_tokens": False} if bos and text.startswith(bos) else {}


def _model_image_token_id(config) -> int:
    token_id = getattr(config, "image_token_id", None)
    return config.image_token_index if token_id is None else token_id


def _new_tokens(inputs, output) -> list[list[int]]:
    prompt_len = inputs["input_ids"].shape[1]
    return [row[prompt_len:].tolist() for row in output]


@pytest.fixture(scope="module", params=ARCHES)
def built(request, tmp_path_factory):
    arch = request.param
    if arch == "smolvlm":
        pytest.importorskip("num2words")  # SmolVLM's processor needs it
    path = tiny_model(arch, tmp_path_factory.mktemp(arch))
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path)
    model.eval()
    return SimpleNamespace(arch=arch, path=path, processor=processor, model=model)


# ---------------------------------------------------------------------------------------------
# per architecture
# ---------------------------------------------------------------------------------------------


def test_required_arches_are_supported():
    assert set(REQUIRED) <= set(ARCHES)
    assert set(ARCHES) == set(EXPECTED_CLASSES)


def test_folder_is_complete_and_small(built):
    names = {p.name for p in built.path.iterdir()}
    required_files = [
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "processor_config.json",
    ]
    if built.arch not in NO_CHAT_TEMPLATE:
        required_files.append("chat_template.jinja")
    for required in required_files:
        assert required in names, f"{built.arch}: missing {required}"
    total = sum(p.stat().st_size for p in built.path.rglob("*") if p.is_file())
    assert total < 5 * 1024 * 1024, f"{built.arch}: {total} bytes"

    tokenizer_config = json.loads((built.path / "tokenizer_config.json").read_text())
    if built.arch in NO_CHAT_TEMPLATE:
        assert "chat_template.jinja" not in names and not tokenizer_config.get("chat_template")
    else:
        assert tokenizer_config.get("chat_template") or (built.path / "chat_template.jinja").read_text()


def test_loads_with_the_architecture_classes(built):
    processor_cls, image_processor_cls, tokenizer_cls, model_cls = EXPECTED_CLASSES[built.arch]
    assert type(built.processor).__name__ == processor_cls
    assert type(built.processor.image_processor).__name__ == image_processor_cls
    assert type(built.processor.tokenizer).__name__ == tokenizer_cls
    assert built.processor.tokenizer.is_fast
    assert type(built.model).__name__ == model_cls
    assert built.model.dtype == torch.float32
    assert sum(p.numel() for p in built.model.parameters()) < 1_000_000


def test_config_knows_the_special_tokens(built):
    tokenizer = built.processor.tokenizer
    config = built.model.config
    text_config = config.get_text_config()
    if built.arch == "mllama":
        # the real layout: <|image|> is the one token past the LM head, held by the embedding's spare rows
        assert text_config.vocab_size == len(tokenizer) - 1 == built.processor.image_token_id
        assert built.model.get_input_embeddings().num_embeddings > built.processor.image_token_id
    else:
        assert text_config.vocab_size >= len(tokenizer)
    assert text_config.hidden_size <= 64 and text_config.num_hidden_layers <= 2

    image_token_id = _model_image_token_id(config)
    # the token the processor repeats once per vision feature (Gemma 3's processor calls the
    # begin-of-image token its "image token"; the repeated soft token is the tokenizer's)
    expanded = tokenizer.image_token_id if built.arch == "gemma3" else built.processor.image_token_id
    assert image_token_id == expanded
    assert tokenizer.convert_ids_to_tokens(image_token_id) in tokenizer.all_special_tokens

    generation = built.model.generation_config
    eos = generation.eos_token_id if isinstance(generation.eos_token_id, list) else [generation.eos_token_id]
    assert eos and all(isinstance(i, int) for i in eos)
    assert tokenizer.eos_token_id in eos
    assert generation.pad_token_id is not None
    assert generation.pad_token_id == tokenizer.pad_token_id


def test_chat_template(built):
    processor = built.processor
    if built.arch in NO_CHAT_TEMPLATE:
        assert not processor.chat_template and not processor.tokenizer.chat_template
        # the processor lays the prompt out itself: "<image>" x image_seq_length, "<bos>", prefix, "\n"
        inputs = processor(text=["<image>caption en"], images=[[make_image(40, 30)]], return_tensors="pt")
        tokens = processor.tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
        n = processor.image_seq_length
        assert tokens[:n] == ["<image>"] * n and tokens[n] == processor.tokenizer.bos_token
        assert processor.tokenizer.decode(inputs["input_ids"][0][n + 1:]) == "caption en\n"
        assert inputs["token_type_ids"].sum() == 0  # all prefix: attended bidirectionally
        return
    placeholder = IMAGE_PLACEHOLDER[built.arch]
    suffix = GENERATION_PROMPT_SUFFIX[built.arch]

    if built.arch in NO_SYSTEM_WITH_IMAGES:
        with pytest.raises(Exception, match="system"):
            _render(processor, _messages("What is in the picture?", system="Answer briefly."))
        text = _render(processor, [{"role": "system", "content": "Answer briefly."},
                                   {"role": "user", "content": "What is in the picture?"}])
        assert "What is in the picture?" in text and "Answer briefly." in text
        text = _render(processor, _messages("What is in the picture?"))
        assert "What is in the picture?" in text
    else:
        parts_only = built.arch in PARTS_ONLY_TEMPLATE
        text = _render(processor, _messages("What is in the picture?", system="Answer briefly.", parts_only=parts_only))
        assert "What is in the picture?" in text and "Answer briefly." in text
    assert text.count(placeholder) == 1
    assert text.endswith(suffix)

    # string contents, a multi-turn conversation, two images, no generation prompt
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello there"},
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": "and these?"}, {"type": "image"}],
        },
    ]
    if built.arch in PARTS_ONLY_TEMPLATE:
        for message in conversation:
            if isinstance(message["content"], str):
                message["content"] = [{"type": "text", "text": message["content"]}]
    if built.arch in NO_SYSTEM_WITH_IMAGES:
        conversation = conversation[1:]
        conversation[0]["content"] = "Be brief. hi"
    text = processor.apply_chat_template(conversation, add_generation_prompt=False, tokenize=False)
    assert text.count(placeholder) == 2
    for fragment in ("Be brief.", "hi", "hello there", "and these?"):
        assert fragment in text
    assert not text.endswith(suffix)
    assert text.index("hi") < text.index("hello there") < text.index("and these?")

    # the tokenizer carries the same template
    assert processor.tokenizer.chat_template


def test_generate_single(built):
    processor, model = built.processor, built.model
    text = _prompt(built, "Describe the image.")
    image = make_image(80, 60, seed=3)
    inputs = processor(text=[text], images=[image], return_tensors="pt", **_call_kwargs(processor, text))
    # Mllama cross-attends to its image: the prompt holds one <|image|> token, not one per feature
    least = 1 if built.arch == "mllama" else 4
    assert int((inputs["input_ids"] == _model_image_token_id(model.config)).sum()) >= least
    with torch.no_grad():
        output = model.generate(**_generate_inputs(inputs), max_new_tokens=5, do_sample=False)
    (new,) = _new_tokens(inputs, output)
    assert 1 <= len(new) <= 5
    assert all(0 <= t < model.config.get_text_config().vocab_size for t in new)
    decoded = processor.decode(new, skip_special_tokens=False)
    assert isinstance(decoded, str) and decoded
    assert isinstance(processor.batch_decode([new], skip_special_tokens=True)[0], str)


def test_batched_left_padded_matches_single(built):
    processor, model = built.processor, built.model
    processor.tokenizer.padding_side = "left"
    try:
        texts = [
            _prompt(built, "Describe the image."),
            _prompt(built, "List the objects as JSON with their colors, please."),
        ]
        images = [make_image(64, 48, seed=1), make_image(120, 90, seed=2)]
        kwargs = _call_kwargs(processor, texts[0])

        singles = []
        for text, image in zip(texts, images):
            inputs = processor(text=[text], images=[image], return_tensors="pt", **kwargs)
            with torch.no_grad():
                output = model.generate(**_generate_inputs(inputs), max_new_tokens=5, do_sample=False)
            singles.extend(_new_tokens(inputs, output))

        # One list of images per prompt: the form every processor accepts for a batch.
        nested = [[image] for image in images]
        inputs = processor(text=texts, images=nested, padding=True, return_tensors="pt", **kwargs)
        mask = inputs["attention_mask"]
        assert mask.shape[0] == 2 and bool((mask[:, -1] == 1).all()), "expected left padding"
        assert int(mask.sum(dim=1).min()) < mask.shape[1], "expected the prompts to differ in length"
        with torch.no_grad():
            output = model.generate(**_generate_inputs(inputs), max_new_tokens=5, do_sample=False)
        batched = _new_tokens(inputs, output)
        assert batched == singles
    finally:
        processor.tokenizer.padding_side = "right"


def test_vocab_is_byte_level(built):
    tokenizer = built.processor.tokenizer
    samples = [
        '{"name": "Zoë", "emoji": "🙂", "cjk": "日本語", "ctrl": "a\\tb\\n", "n": -1.5e+3, "x": null}',
        "\x00\x01~ plain ASCII\r\n\t and bytes \u00ff\u0100 and ¿qué?",
    ]
    for sample in samples:
        ids = tokenizer.encode(sample, add_special_tokens=False)
        assert tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False) == sample
    vocab = tokenizer.get_vocab()
    # PaliGemma's processor adds the real 1024 <locXXXX> and 128 <segXXX> tokens on top
    detection = [t for t in vocab if re.fullmatch(r"<loc\d{4}>|<seg\d{3}>", t)]
    assert len(detection) == (1152 if built.arch == "paligemma" else 0)
    assert 500 <= len(vocab) - len(detection) <= 1000
    # every single byte has its own token (GPT-2 byte-to-unicode alphabet)
    from tokenizers import pre_tokenizers

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    assert len(alphabet) == 256 and all(symbol in vocab for symbol in alphabet)


def test_xgrammar_sees_a_byte_level_vocab(built):
    xgr = pytest.importorskip("xgrammar")
    info = xgr.TokenizerInfo.from_huggingface(
        built.processor.tokenizer, vocab_size=built.model.config.get_text_config().vocab_size
    )
    assert info.vocab_type == xgr.VocabType.BYTE_LEVEL
    assert info.vocab_size == built.model.config.get_text_config().vocab_size
    compiled = xgr.GrammarCompiler(info).compile_builtin_json_grammar()
    matcher = xgr.GrammarMatcher(compiled)
    bitmask = xgr.allocate_token_bitmask(1, info.vocab_size)
    matcher.fill_next_token_bitmask(bitmask)
    assert int(bitmask.ne(0).sum()) > 0


# ---------------------------------------------------------------------------------------------
# API, determinism, CLI, images
# ---------------------------------------------------------------------------------------------


def test_unknown_arch_raises(tmp_path):
    with pytest.raises(ValueError, match="qwen2_vl"):
        tiny_model("no_such_arch", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_build_is_deterministic_for_a_seed(tmp_path):
    a = tiny_model("qwen2_vl", tmp_path / "a", seed=7)
    b = tiny_model("qwen2_vl", tmp_path / "b", seed=7)
    c = tiny_model("qwen2_vl", tmp_path / "c", seed=8)
    assert _sha256(a / "model.safetensors") == _sha256(b / "model.safetensors")
    assert _sha256(a / "model.safetensors") != _sha256(c / "model.safetensors")
    for name in ("tokenizer.json", "config.json", "processor_config.json", "chat_template.jinja"):
        assert _sha256(a / name) == _sha256(b / name) == _sha256(c / name)


def test_build_leaves_global_rng_alone(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny_model("llava_next", tmp_path / "m")
    assert torch.equal(torch.rand(3), expected)


def test_cli_tiny_model(tmp_path, capsys):
    # `python -m oculo.testing` is this main(); called in process, it skips a second Python importing torch.
    from oculo.testing.__main__ import main

    out = tmp_path / "cli-qwen"
    assert main(["tiny-model", "qwen2_vl", str(out)]) == 0
    assert Path(capsys.readouterr().out.strip()) == out
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "qwen2_vl"
    processor = AutoProcessor.from_pretrained(out)
    assert type(processor).__name__ == "Qwen2VLProcessor"


def test_cli_unknown_arch(tmp_path, capsys):
    from oculo.testing.__main__ import main

    assert main(["tiny-model", "nope", str(tmp_path / "n")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "nope" in lines[0] and all(arch in lines[0] for arch in ARCHES)
    assert not (tmp_path / "n").exists()


def test_make_image():
    image = make_image(64, 48)
    assert image.mode == "RGB" and image.size == (64, 48)
    assert make_image(64, 48).tobytes() == image.tobytes()
    assert make_image(64, 48, seed=1).tobytes() != image.tobytes()
    assert len(image.getcolors(maxcolors=64 * 48)) > 50  # colorful, not flat
    assert make_image(1, 1).size == (1, 1)
    with pytest.raises(ValueError):
        make_image(0, 10)
