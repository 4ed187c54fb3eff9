"""Mechanism views against independent plain-transformers references.

Reference = a private deepcopy of the model with the weight edited directly, eager attention, and
`output_hidden_states` / `output_attentions` (or a hook on the private copy): no project code.
"""

import copy
import json
import threading

import pytest
import torch

from sw_core.edits import Coord, Edit, applied, off
from sw_core.errors import BadInput
from sw_core.mechanism import explain
from sw_core.mechanism.vocabulary import token_class
from sw_core.testing import TINY_TYPES, plant_super_weight, tiny_model

SW1, SW2 = Coord(11, 507, 1229), Coord(11, 507, 1487)
PROMPT = "Apple Inc. is a worldwide tech company."


def reference(loaded, ids, zeroed=()):
    """(hidden_states, attentions, mlp input, down_proj input) of a deepcopy with `zeroed` set to 0."""
    model = copy.deepcopy(loaded.model)
    model.set_attn_implementation("eager")
    captured = {}
    for c in zeroed:
        down = model.get_submodule(loaded.layers[c.layer].name)
        at = (c.col, c.row) if type(down).__name__ == "Conv1D" else (c.row, c.col)  # GPT-2 stores [in, out]
        down.weight.data[at] = 0.0
    for i, p in enumerate(loaded.layers):
        keep = lambda key: lambda m, inp, out: captured.__setitem__(key, inp[0].reshape(-1, inp[0].shape[-1]))  # noqa: E731
        model.get_submodule(p.name).register_forward_hook(keep(("x", i)))
        feeder(model, p.name).register_forward_hook(keep(("n", i)))  # its input: the MLP's (normed) input
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True, output_attentions=True, use_cache=False)
    return out.hidden_states, out.attentions, captured


def feeder(model, down_name):
    """The projection feeding the down projection's input (gate, fused gate_up, c_fc, fc1...)."""
    parent = model.get_submodule(down_name.rsplit(".", 1)[0])
    return next(getattr(parent, n) for n in ("gate_proj", "gate_up_proj", "c_fc", "dense_h_to_4h", "fc1")
                if hasattr(parent, n))


def check_against_reference(loaded, m, ids, coords):
    layer, row = coords[0].layer, coords[0].row
    hs, att, cap = reference(loaded, ids)
    hs_off, att_off, _ = reference(loaded, ids, coords)
    t = m.persistence.token
    n = loaded.num_layers
    # Persistence: decoder layer i's output is hidden_states[i + 1] (the last one is after the final norm).
    for i in range(n - 1):
        assert torch.allclose(torch.tensor(m.persistence.original[i]), hs[i + 1][0, :, row], rtol=1e-4, atol=1e-3)
        assert torch.allclose(torch.tensor(m.persistence.removed[i]), hs_off[i + 1][0, :, row], rtol=1e-4, atol=1e-3)
    # Attention sink: eager attention weights of the reference, mean over the later queries.
    q0 = t + 1 if t + 1 < ids.shape[1] else t  # the later queries; the sink itself when it is the last token
    for i in range(n):
        want = att[i][0, :, q0:, t].mean(-1)
        want_off = att_off[i][0, :, q0:, t].mean(-1)
        assert torch.allclose(torch.tensor(m.attention_sink.original[i]), want, atol=1e-4)
        assert torch.allclose(torch.tensor(m.attention_sink.removed[i]), want_off, atol=1e-4)
    # Pathway: x at the column, the factors from the MLP's own projections, the top drivers.
    nvec = cap[("n", layer)][t]
    for p, c in zip(m.pathway, coords):
        assert p.x == pytest.approx(float(cap[("x", layer)][t, c.col]), rel=1e-4)
        assert p.x_recomputed == pytest.approx(p.x, rel=1e-3)
        first = p.factors[0]
        f = feeder(loaded.model, loaded.layers[layer].name)
        w = f.weight[:, c.col] if type(f).__name__ == "Conv1D" else f.weight[c.col]
        terms = w * nvec
        bias = 0.0 if f.bias is None else float(f.bias[c.col])
        assert first.pre == pytest.approx(float(terms.sum()) + bias, rel=1e-3, abs=1e-4)
        assert [d.channel for d in first.drivers] == terms.abs().topk(len(first.drivers)).indices.tolist()


@pytest.mark.parametrize("model_type", TINY_TYPES)
def test_tiny_planted_mechanism_matches_reference(model_type):
    loaded = tiny_model(model_type, layers=4)
    coord = plant_super_weight(loaded, layer=1, seed=3)
    prompt = "the super weight test prompt"
    m = explain(loaded, prompt, [coord], with_vocabulary=False)
    ids = loaded.encode(prompt)
    check_against_reference(loaded, m, ids, [coord])
    # The planted weight creates the activation at its layer: large from there on, gone when off.
    orig, rem = m.persistence.at_token("original"), m.persistence.at_token("removed")
    assert abs(orig[1]) > 5 * abs(rem[1])


def test_embedded_acceptance(embedded):
    m = explain(embedded, PROMPT, [SW1, SW2], with_vocabulary=False)
    ids = embedded.encode(PROMPT)
    check_against_reference(embedded, m, ids, [SW1, SW2])
    p = m.pathway[0]
    assert (p.layer, p.row, p.col, p.token) == (11, 507, 1229, 0)
    assert [f.name for f in p.factors] == ["gate", "up"]
    assert p.activation > 2e4 and p.contribution > 1e4
    large = m.persistence.large_layers("original")
    assert large[0] == 11 and 27 in large and 29 not in large
    assert max(abs(v) for v in m.persistence.at_token("removed")[:28]) < 0.1 * abs(p.activation)


def test_writers_sum_to_the_residual(embedded):
    """Embedding + every sublayer write up to the MLP = the residual the MLP reads (all channels)."""
    from sw_core.mechanism.pathway import sublayer_writes
    from sw_core.mechanism.recording import record_pass

    ids = embedded.encode(PROMPT)
    rec = record_pass(embedded, ids, Edit(), channel=507, token=0)
    writes = sublayer_writes(embedded, rec, 11)
    total = sum(w for _, w in writes)
    _, _, cap = reference(embedded, ids)
    with torch.no_grad():  # the reference MLP's input is the norm of exactly that residual
        normed = embedded.model.model.layers[11].post_attention_layernorm(total[None])[0]
    assert torch.allclose(normed, cap[("n", 11)][0], rtol=1e-3, atol=1e-3)


def test_vocabulary_classes_match_a_plain_loop(embedded):
    from sw_core.metrics.prompts import next_word_prompts
    from sw_core.mechanism.vocabulary import CLASSES, vocabulary
    from sw_core.builtin_prompts import builtin_prompts

    prompts, sentences = builtin_prompts()[:3], next_word_prompts(4)
    v = vocabulary(embedded, 507, 1, [SW1], prompts=prompts, sentences=sentences)
    model = copy.deepcopy(embedded.model)
    model.model.layers[11].mlp.down_proj.weight.data[507, 1229] = 0.0
    texts = [embedded.tokenizer.decode([i]) for i in range(model.config.vocab_size)]
    cls = torch.tensor([CLASSES.index(token_class(t)) for t in texts])
    onehot = torch.nn.functional.one_hot(cls, len(CLASSES)).float()
    for which, mdl in (("original", embedded.model), ("removed", model)):
        with torch.no_grad():
            every = [mdl(input_ids=embedded.encode(p.text, add_bos=p.add_bos)).logits[0, 1:].softmax(-1) for p in prompts]
            last = [mdl(input_ids=embedded.encode(p.prompt)).logits[0, -1].softmax(-1) for p in sentences]
        want_every = (torch.cat(every) @ onehot).mean(0)
        want_last = (torch.stack(last) @ onehot).mean(0)
        assert torch.allclose(torch.tensor([getattr(c, which) for c in v.classes_builtin]), want_every, atol=1e-4)
        assert torch.allclose(torch.tensor([getattr(c, which) for c in v.classes]), want_last, atol=1e-4)
    head = embedded.model.lm_head.weight[:, 507] * embedded.model.model.norm.weight[507]
    assert [t.id for t in v.promoted] == head.topk(len(v.promoted)).indices.tolist()
    assert [t.id for t in v.suppressed] == (-head).topk(len(v.suppressed)).indices.tolist()
    assert {" the", ",", "."} <= {t.token for t in v.promoted}


def test_token_classes():
    assert [token_class(t) for t in [" the", ".", " 42", " apple", " ", "ab1", " And", "?!"]] == [
        "stop words", "punctuation", "digits", "content words", "other", "other", "stop words", "punctuation"]


def test_explain_is_thread_safe_and_leaves_no_trace(embedded, digest):
    """Another thread's forward under its own edit is unaffected while explain runs."""
    before = digest(embedded.model)
    ids = embedded.encode("Summer is hot. Winter is")
    with torch.inference_mode(), applied(embedded, off(SW1)):
        want = embedded.model(input_ids=ids, use_cache=False).logits
    got, errors = [], []

    def worker():
        try:
            for _ in range(3):
                with torch.inference_mode(), applied(embedded, off(SW1)):
                    got.append(embedded.model(input_ids=ids, use_cache=False).logits)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    th = threading.Thread(target=worker)
    th.start()
    explain(embedded, PROMPT, [SW1, SW2], with_vocabulary=False)
    th.join()
    assert not errors and all(torch.equal(g, want) for g in got)
    assert digest(embedded.model) == before


def test_bad_input(embedded):
    with pytest.raises(BadInput, match="share one layer"):
        explain(embedded, PROMPT, [SW1, Coord(12, 1, 1)], with_vocabulary=False)
    with pytest.raises(BadInput, match="empty"):
        explain(embedded, "   ", [SW1], with_vocabulary=False)
    with pytest.raises(BadInput, match="out of range"):
        explain(embedded, PROMPT, [Coord(11, 507, 99999)], with_vocabulary=False)


def test_cli_explain_json(tmp_path, capsys):
    from sw_core.__main__ import main

    out = tmp_path / "m.json"
    assert main(["explain", "--model", "embedded", "--device", "cpu", "--weights", "11:507:1229", "11:507:1487",
                 "--no-vocabulary", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert {"pathway", "persistence", "attention_sink", "vocabulary"} <= set(data)
    assert data["pathway"][0]["col"] == 1229
    assert "PERSISTENCE" in capsys.readouterr().out


def test_figures_build_from_a_tiny_explanation():
    from sw_core import figures as pm
    from sw_core.metrics.prompts import next_word_prompts
    from sw_core.builtin_prompts import builtin_prompts

    loaded = tiny_model("llama", layers=3)
    coord = plant_super_weight(loaded, layer=1, seed=1)
    m = explain(loaded, "a short prompt", [coord], vocabulary_prompts=builtin_prompts()[:2],
                vocabulary_sentences=next_word_prompts(2))
    figs = [pm.pathway_figure(m.pathway[0]), pm.persistence_figure(m.persistence),
            pm.persistence_heatmap(m.persistence, "removed"), pm.attention_sink_figure(m.attention_sink),
            pm.attention_sink_heatmap(m.attention_sink), pm.vocabulary_lens_figure(m.vocabulary),
            pm.vocabulary_class_figure(m.vocabulary), pm.vocabulary_class_figure(m.vocabulary, "builtin")]
    assert [len(f.data) for f in figs] == [2, 2, 1, 2, 1, 2, 2, 2]
    assert list(figs[1].data[0].y) == m.persistence.at_token("original")
    json.dumps(m.to_dict())  # plain data all the way down
