"""The BIOSCAN-5M retrieval protocol and its metrics: key/query rows of a store, top-k micro and
macro accuracy from embeddings (chunked cosine search, CPU or GPU), the seen/unseen harmonic
mean, the 1-NN probe and adjusted mutual information for clustering.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InvalidArgumentError
from .layouts.bioscan5m_layout import CLIBD_5M_GROUPS

__all__ = [
    "PROTOCOL_GROUPS",
    "adjusted_mutual_info",
    "evaluate_seen_unseen",
    "harmonic_mean",
    "knn_probe",
    "nearest_keys",
    "protocol_rows",
    "topk_accuracy",
]

#: CLIBD's BIOSCAN-5M groups (``generate_hdf5_file_5m.py``) and the splits each stands for.
PROTOCOL_GROUPS: dict[str, tuple[str, ...]] = {
    **CLIBD_5M_GROUPS,
    "val_unseen": ("val_unseen",),
    "test_unseen": ("test_unseen",),
    "other_heldout": ("other_heldout",),
}


def protocol_rows(store) -> dict[str, np.ndarray]:
    """The store rows of each protocol group (CLIBD's names), in metadata order.

    Seen species: keys ``seen_keys`` (train), queries ``val_seen`` / ``test_seen``. Unseen
    species: keys ``unseen_keys`` (key_unseen), queries ``val_unseen`` / ``test_unseen``. CLIBD
    searches every query against ``all_keys``.
    """
    return {name: store.indices(name) for name in PROTOCOL_GROUPS}


def nearest_keys(
    query_emb: Any, key_emb: Any, k: int, query_chunk: int = 1024, key_chunk: int = 65536
) -> tuple[Any, Any]:
    """The ``k`` keys of highest cosine similarity to each query, best first.

    Parameters
    ----------
    query_emb, key_emb : torch.Tensor or numpy.ndarray, shape (Q, D) and (K, D)
        Float embeddings; the search runs on ``query_emb``'s device (keys are moved there a
        chunk at a time), never holding more than ``query_chunk x key_chunk`` similarities.
    k, query_chunk, key_chunk : int

    Returns
    -------
    similarities : torch.Tensor, shape (Q, k)
    indices : torch.LongTensor, shape (Q, k)
    """
    import torch

    q, keys = (
        x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
        for x in (query_emb, key_emb)
    )
    q = q.float()
    if q.ndim != 2 or keys.ndim != 2 or q.shape[1] != keys.shape[1]:
        raise InvalidArgumentError(
            f"Embeddings must be 2-D with the same width: queries {tuple(q.shape)!r}, keys {tuple(keys.shape)!r}."
        )
    k = int(k)
    if not 1 <= k <= keys.shape[0]:
        raise InvalidArgumentError(f"k={k!r} must be in 1..{keys.shape[0]} (the number of keys).")
    q = torch.nn.functional.normalize(q, dim=1)
    sims = torch.full((q.shape[0], k), -torch.inf, dtype=q.dtype, device=q.device)
    idx = torch.zeros((q.shape[0], k), dtype=torch.int64, device=q.device)
    with torch.no_grad():
        for start in range(0, keys.shape[0], key_chunk):  # each key chunk is moved and normalised once
            kc = torch.nn.functional.normalize(keys[start : start + key_chunk].to(q.device).float(), dim=1)
            kk = min(k, kc.shape[0])
            for qs in range(0, q.shape[0], query_chunk):
                v, i = torch.topk(q[qs : qs + query_chunk] @ kc.T, kk, dim=1)
                if start == 0 and kk == k:
                    sims[qs : qs + query_chunk], idx[qs : qs + query_chunk] = v, i
                    continue
                both_v = torch.cat([sims[qs : qs + query_chunk], v], 1)
                both_i = torch.cat([idx[qs : qs + query_chunk], i + start], 1)
                v, j = torch.topk(both_v, k, dim=1)
                sims[qs : qs + query_chunk], idx[qs : qs + query_chunk] = v, torch.gather(both_i, 1, j)
    return sims, idx


def _hits(pred: np.ndarray, truth: np.ndarray, ks: Sequence[int]) -> dict[str, dict[int, float]]:
    """Micro and macro top-k accuracy of predicted labels ``(Q, max_k)`` against ``truth``."""
    _, inverse, counts = np.unique(truth, return_inverse=True, return_counts=True)
    hit_any = np.zeros(len(truth), dtype=bool)
    micro, macro = {}, {}
    done = 0
    for k in sorted(ks):
        hit_any |= (pred[:, done:k] == truth[:, None]).any(axis=1)
        done = k
        micro[k] = float(hit_any.mean())
        macro[k] = float(np.mean(np.bincount(inverse, weights=hit_any) / counts))
    return {"micro": {k: micro[k] for k in ks}, "macro": {k: macro[k] for k in ks}}


def topk_accuracy(
    query_emb: Any,
    query_labels: Any,
    key_emb: Any,
    key_labels: Any,
    ks: Sequence[int] = (1, 5),
    *,
    query_chunk: int = 1024,
    key_chunk: int = 65536,
) -> dict:
    """Top-k retrieval accuracy as CLIBD's ``util.py`` defines it.

    A query scores at ``k`` when its label is among the labels of its ``k`` nearest keys by
    cosine similarity. Micro: the mean over queries; macro: the mean over the query labels of
    each label's micro accuracy. Labels are compared as they are: ``-1`` (missing) matches
    ``-1``, as CLIBD's ``"not_classified"`` matches itself; drop those queries first to leave
    them out.

    Parameters
    ----------
    query_emb, key_emb, query_chunk, key_chunk
        As :func:`nearest_keys`.
    query_labels, key_labels : array-like of int, or mapping of rank to array-like
        One label per row; a mapping gives the accuracy of every rank from one search.
    ks : sequence of int

    Returns
    -------
    dict
        ``{"micro": {k: float}, "macro": {k: float}}``; with mappings of labels,
        ``{rank: {"micro": ..., "macro": ...}}``.
    """
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise InvalidArgumentError(f"ks must hold positive ints, got {ks!r}.")
    _, idx = nearest_keys(query_emb, key_emb, max(ks), query_chunk, key_chunk)
    nearest = idx.cpu().numpy()
    if isinstance(query_labels, Mapping):
        if not isinstance(key_labels, Mapping) or set(query_labels) != set(key_labels):
            raise InvalidArgumentError("query_labels and key_labels must be mappings with the same ranks.")
        return {r: _hits(_np(key_labels[r])[nearest], _np(query_labels[r]), ks) for r in query_labels}
    return _hits(_np(key_labels)[nearest], _np(query_labels), ks)


def _np(x: Any) -> np.ndarray:
    return x.cpu().numpy() if hasattr(x, "cpu") else np.asarray(x)


def harmonic_mean(seen: Any, unseen: Any) -> Any:
    """``2 s u / (s + u)`` (0 where both are 0), elementwise over nested dicts of floats."""
    if isinstance(seen, Mapping):
        return {key: harmonic_mean(seen[key], unseen[key]) for key in seen}
    s, u = float(seen), float(unseen)
    return 0.0 if s + u == 0 else 2 * s * u / (s + u)


def evaluate_seen_unseen(
    key_emb: Any,
    key_labels: Any,
    seen_emb: Any,
    seen_labels: Any,
    unseen_emb: Any,
    unseen_labels: Any,
    ks: Sequence[int] = (1, 5),
) -> dict:
    """CLIBD's evaluation: seen and unseen queries against one key set, and their harmonic mean.

    Returns ``{"seen": ..., "unseen": ..., "harmonic_mean": ...}``, each as :func:`topk_accuracy`.
    """
    seen = topk_accuracy(seen_emb, seen_labels, key_emb, key_labels, ks)
    unseen = topk_accuracy(unseen_emb, unseen_labels, key_emb, key_labels, ks)
    return {"seen": seen, "unseen": unseen, "harmonic_mean": harmonic_mean(seen, unseen)}


def knn_probe(train_emb: Any, train_labels: Any, test_emb: Any, test_labels: Any) -> dict[str, float]:
    """The 1-NN probe (BarcodeBERT's ``KNeighborsClassifier(n_neighbors=1, metric="cosine")``):
    ``{"accuracy", "balanced_accuracy"}`` (the mean recall over the test labels)."""
    res = topk_accuracy(test_emb, test_labels, train_emb, train_labels, ks=(1,))
    return {"accuracy": res["micro"][1], "balanced_accuracy": res["macro"][1]}


def adjusted_mutual_info(labels_true: Any, labels_pred: Any) -> float:
    """Adjusted mutual information of a clustering (arithmetic normalisation, as scikit-learn's default).

    scikit-learn's ``adjusted_mutual_info_score`` where it is installed, else the same formula in numpy.
    """
    try:
        from sklearn.metrics import adjusted_mutual_info_score
    except ImportError:
        return _ami_numpy(labels_true, labels_pred)
    return float(adjusted_mutual_info_score(_np(labels_true), _np(labels_pred)))


def _ami_numpy(labels_true: Any, labels_pred: Any) -> float:
    """AMI = (MI - E[MI]) / (mean(H_true, H_pred) - E[MI]), E[MI] under the hypergeometric model."""
    import torch

    _, a_inv = np.unique(_np(labels_true), return_inverse=True)
    _, b_inv = np.unique(_np(labels_pred), return_inverse=True)
    n_a, n_b = a_inv.max(initial=-1) + 1, b_inv.max(initial=-1) + 1
    if (n_a == n_b == 1) or (n_a == n_b == 0):
        return 1.0
    n = len(a_inv)
    cont = np.zeros((n_a, n_b), dtype=np.int64)
    np.add.at(cont, (a_inv, b_inv), 1)
    a, b = cont.sum(1), cont.sum(0)
    nz = cont[cont > 0].astype(float)
    outer = np.outer(a, b)[cont > 0].astype(float)
    mi = float(np.sum(nz / n * (np.log(nz) + np.log(n) - np.log(outer))))
    h_a = -float(np.sum(a / n * np.log(a / n)))
    h_b = -float(np.sum(b / n * np.log(b / n)))
    emi = 0.0
    lg = torch.lgamma(torch.arange(n + 2, dtype=torch.float64)).numpy()  # lg[x] = log((x - 1)!)
    for ai in a:
        bj = b.astype(np.int64)
        top = np.minimum(ai, bj)
        lo = np.maximum(1, ai + bj - n)
        width = int((top - lo).max(initial=-1)) + 1
        if width <= 0:
            continue
        nij = lo[:, None] + np.arange(width)[None, :]
        ok = nij <= top[:, None]
        nij = np.where(ok, nij, 1)
        bb = bj[:, None]
        term = (nij / n) * (np.log(n * nij) - np.log(ai * bb))
        logp = (
            lg[ai + 1] + lg[bb + 1] + lg[n - ai + 1] + lg[n - bb + 1]
            - lg[n + 1] - lg[nij + 1] - lg[ai - nij + 1] - lg[bb - nij + 1] - lg[n - ai - bb + nij + 1]
        )  # fmt: skip
        emi += float(np.sum(np.where(ok, term * np.exp(logp), 0.0)))
    denom = (h_a + h_b) / 2 - emi
    eps = np.finfo(float).eps
    denom = min(denom, -eps) if denom < 0 else max(denom, eps)
    return float((mi - emi) / denom)
