"""Retrieval protocol and metrics (issue 22), against the reference implementations on the same
generated embeddings: CLIBD's ``util.py`` top-k micro/macro accuracy (ported below, with an exact
inner-product search standing in for its ``faiss.IndexFlatIP`` over L2-normalised vectors),
scikit-learn's 1-NN classifier and AMI; the protocol rows against the metadata's split column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import adjusted_mutual_info_score, balanced_accuracy_score
from sklearn.neighbors import KNeighborsClassifier

from bioscan_h5.retrieval import (
    PROTOCOL_GROUPS,
    _ami_numpy,
    adjusted_mutual_info,
    evaluate_seen_unseen,
    harmonic_mean,
    knn_probe,
    nearest_keys,
    protocol_rows,
    topk_accuracy,
)
from bioscan_h5.store import Store

LEVELS = ["order", "family", "genus", "species"]


# ---------------------------------------------------------------- a port of CLIBD's util.py
def clibd_predictions(query, keys, key_label_dicts, max_k):
    """CLIBD's make_prediction: the labels of the max_k keys of highest inner product (normalised)."""
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    k = keys / np.linalg.norm(keys, axis=1, keepdims=True)
    order = np.argsort(-(q @ k.T), axis=1, kind="stable")[:, :max_k]
    return [{lv: [key_label_dicts[i][lv] for i in row] for lv in LEVELS} for row in order]


def clibd_micro(preds, gts, ks):
    out = {}
    for k in ks:
        out[k] = {}
        for lv in LEVELS:
            correct = sum(1 for p, g in zip(preds, gts) if g[lv] in p[lv][:k])
            out[k][lv] = correct / len(preds)
    return out


def clibd_macro(preds, gts, ks):
    out = {}
    for k in ks:
        out[k] = {}
        for lv in LEVELS:
            hit, count = {}, {}
            for p, g in zip(preds, gts):
                label = g[lv]
                count[label] = count.get(label, 0) + 1
                hit[label] = hit.get(label, 0) + (label in p[lv][:k])
            out[k][lv] = sum(hit[c] / count[c] for c in count) / len(count)
    return out


def _labels(n, rng):
    """Label indices per level (-1 missing) and CLIBD's dicts of names ("not_classified")."""
    sizes = {"order": 3, "family": 6, "genus": 12, "species": 25}
    idx = {lv: rng.integers(-1, s, n) for lv, s in sizes.items()}
    dicts = [
        {lv: (f"{lv}{idx[lv][i]}" if idx[lv][i] >= 0 else "not_classified") for lv in LEVELS}
        for i in range(n)
    ]
    return idx, dicts


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    keys = rng.normal(size=(300, 16)).astype(np.float32)
    queries = rng.normal(size=(90, 16)).astype(np.float32)
    key_idx, key_dicts = _labels(300, rng)
    q_idx, q_dicts = _labels(90, rng)
    return keys, queries, key_idx, key_dicts, q_idx, q_dicts


def test_topk_micro_and_macro_equal_clibd(data):
    keys, queries, key_idx, key_dicts, q_idx, q_dicts = data
    ks = (1, 3, 5)
    preds = clibd_predictions(queries, keys, key_dicts, max(ks))
    micro, macro = clibd_micro(preds, q_dicts, ks), clibd_macro(preds, q_dicts, ks)
    ours = topk_accuracy(queries, q_idx, keys, key_idx, ks=ks, query_chunk=7, key_chunk=50)
    for lv in LEVELS:
        for k in ks:
            assert ours[lv]["micro"][k] == pytest.approx(micro[k][lv], abs=1e-12)
            assert ours[lv]["macro"][k] == pytest.approx(macro[k][lv], abs=1e-12)
    one = topk_accuracy(torch.from_numpy(queries), q_idx["genus"], torch.from_numpy(keys), key_idx["genus"])
    assert one == {
        "micro": {1: micro[1]["genus"], 5: micro[5]["genus"]},
        "macro": {1: macro[1]["genus"], 5: macro[5]["genus"]},
    }


def test_chunked_search_equals_one_matrix(data):
    keys, queries, *_ = data
    v, i = nearest_keys(queries, keys, 5, query_chunk=4, key_chunk=3)
    full = (
        torch.nn.functional.normalize(torch.from_numpy(queries), dim=1)
        @ torch.nn.functional.normalize(torch.from_numpy(keys), dim=1).T
    )
    ref_v, ref_i = torch.topk(full, 5, dim=1)
    torch.testing.assert_close(v, ref_v)
    assert torch.equal(i, ref_i)


def test_seen_unseen_and_harmonic_mean(data):
    keys, queries, key_idx, _, q_idx, _ = data
    res = evaluate_seen_unseen(
        keys, key_idx["species"], queries[:40], q_idx["species"][:40], queries[40:], q_idx["species"][40:]
    )
    s, u = res["seen"]["micro"][1], res["unseen"]["micro"][1]
    assert res["harmonic_mean"]["micro"][1] == pytest.approx(2 * s * u / (s + u))
    assert harmonic_mean(0.0, 0.0) == 0.0


def test_knn_probe_equals_scikit_learn(data):
    keys, queries, key_idx, _, q_idx, _ = data
    clf = KNeighborsClassifier(n_neighbors=1, metric="cosine").fit(keys, key_idx["genus"])
    pred = clf.predict(queries)
    ours = knn_probe(keys, key_idx["genus"], queries, q_idx["genus"])
    assert ours["accuracy"] == pytest.approx(float((pred == q_idx["genus"]).mean()))
    assert ours["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(q_idx["genus"], pred))


@pytest.mark.parametrize("seed", range(4))
def test_ami_equals_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n = [50, 400, 1000, 7][seed]
    a = rng.integers(0, [3, 20, 60, 2][seed], n)
    b = np.where(rng.random(n) < 0.6, a, rng.integers(0, 15, n))
    want = adjusted_mutual_info_score(a, b)
    assert _ami_numpy(a, b) == pytest.approx(want, abs=1e-10)
    assert adjusted_mutual_info(torch.from_numpy(a), b) == pytest.approx(want, abs=1e-12)
    assert _ami_numpy(np.zeros(5), np.zeros(5)) == adjusted_mutual_info_score(np.zeros(5), np.zeros(5))


def test_protocol_rows_follow_the_split_column(store_5m, sample_root_5m):
    meta = pd.read_csv(sample_root_5m.metadata, dtype=str, keep_default_na=False)
    with Store(store_5m) as st:
        rows = protocol_rows(st)
        assert set(rows) == set(PROTOCOL_GROUPS)
        for name, splits in PROTOCOL_GROUPS.items():
            want = np.flatnonzero(meta["split"].isin(splits).to_numpy())
            np.testing.assert_array_equal(np.sort(rows[name]), want, err_msg=name)
        assert len(rows["all_keys"]) == len(rows["seen_keys"]) + len(rows["unseen_keys"])
