"""The taxonomic tree of a store, in label indices: parents, paths, children and homonyms.

Built from the category codes of every row (numpy, no Python loop over rows); lookups take
numpy arrays or torch tensors of label indices, on any device. ``ds.taxonomy`` is the tree
of a dataset's label space (:func:`taxonomy_of`).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._jit import kernel
from .errors import InvalidArgumentError
from .label_views import relabel

__all__ = ["PARENT_RULES", "Conflict", "Taxonomy", "taxonomy_of"]

#: How a label seen under several parents is resolved (see :class:`Taxonomy`).
PARENT_RULES = ("majority", "split")


class Conflict(NamedTuple):
    """A label (index ``label`` at ``rank``, unsplit) found under several ``parents`` at ``parent_rank``.

    ``parents`` are ordered by ``counts`` (rows under each; most first, ties: lower index
    first); ``chosen`` is the one :meth:`Taxonomy.parents` gives under the ``"majority"`` rule.
    """

    rank: str
    parent_rank: str
    label: int
    name: str
    parents: tuple[int, ...]
    counts: tuple[int, ...]
    chosen: int


@kernel
def _first_parents(child: np.ndarray, parent: np.ndarray, first: np.ndarray, bad: np.ndarray) -> None:
    """``first[c]``: the first parent seen for child ``c`` (-1: none); ``bad[c]``: its rows disagree."""
    for i in range(len(child)):
        c, p = child[i], parent[i]
        if c < 0 or p < 0:
            continue
        if first[c] < 0:
            first[c] = p
        elif first[c] != p:
            bad[c] = True


@kernel
def _pair_keys(
    child: np.ndarray, parent: np.ndarray, compact: np.ndarray, n_parent: int, out: np.ndarray
) -> int:
    """``compact[c] * n_parent + p`` of every row whose child ``c`` is marked (``compact[c] >= 0``)."""
    k = 0
    for i in range(len(child)):
        c, p = child[i], parent[i]
        if c >= 0 and p >= 0 and compact[c] >= 0:
            out[k] = compact[c] * n_parent + p
            k += 1
    return k


def _majority(
    child: np.ndarray, parent: np.ndarray, n_child: int, n_parent: int
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per child label, the parent of most rows (ties: the lower index; -1: never seen with one),
    and, for the children whose rows disagree, every (child, parent, rows) triple sorted by
    child, then rows (most first), then parent."""
    chosen = np.full(n_child, -1, dtype=np.int64)
    bad = np.zeros(n_child, dtype=bool)
    _first_parents(child, parent, chosen, bad)
    empty = np.zeros(0, dtype=np.int64)
    if not bad.any():
        return chosen, (empty, empty, empty)
    labels = np.flatnonzero(bad)
    compact = np.full(n_child, -1, dtype=np.int64)
    compact[labels] = np.arange(len(labels))
    keys = np.empty(len(child), dtype=np.int64)
    keys = keys[: _pair_keys(child, parent, compact, n_parent, keys)]
    if len(labels) * n_parent <= 1 << 24:
        table = np.bincount(keys, minlength=len(labels) * n_parent)
        keys = np.flatnonzero(table)
        counts = table[keys]
    else:
        keys, counts = np.unique(keys, return_counts=True)
    c, p = labels[keys // n_parent], keys % n_parent
    order = np.lexsort((p, -counts, c))
    c, p, counts = c[order], p[order], counts[order]
    first = np.r_[True, c[1:] != c[:-1]]
    chosen[c[first]] = p[first]
    return chosen, (c, p, counts)


class Taxonomy:
    """The tree of label indices over ranks (coarse to fine).

    Parameters
    ----------
    ranks : sequence of str
        Label ranks, coarse to fine (``store.schema.ranks``).
    codes : mapping of str to numpy.ndarray
        Per rank, the label index of every row (``-1`` = missing), all of one length.
    names : mapping of str to sequence of str
        Per rank, the label names in index order.
    rule : {"majority", "split"}
        What a label found under more than one parent becomes. ``"majority"``: its parent is
        the one most of its rows carry (ties: the lower index); the label keeps its index and
        :meth:`conflicts` lists the others. ``"split"``: one label per (parent, name), named
        ``"<parent>/<name>"`` where a name has several parents, renumbered in order; the
        row labels of that space are :meth:`codes` (no longer the dataset's indices).

    Notes
    -----
    Rows whose parent rank is missing do not vote. A label never seen with a parent has
    parent ``-1``; so has every label of the top rank.
    """

    def __init__(
        self,
        ranks: Sequence[str],
        codes: Mapping[str, np.ndarray],
        names: Mapping[str, Sequence[str]],
        rule: str = "majority",
    ) -> None:
        if rule not in PARENT_RULES:
            raise InvalidArgumentError(
                f"Invalid rule {rule!r}. Valid rules are: {', '.join(map(repr, PARENT_RULES))}."
            )
        self.ranks = tuple(ranks)
        self.rule = rule
        self._codes = {r: np.asarray(codes[r]) for r in self.ranks}
        self._names = {r: list(names[r]) for r in self.ranks}
        self._parents: dict[str, np.ndarray] = {self.ranks[0]: np.full(len(self._names[self.ranks[0]]), -1)}
        self._conflicts: dict[str, list[Conflict]] = {self.ranks[0]: []}
        self._lifts: dict[tuple[str, str], np.ndarray] = {}
        for above, rank in zip(self.ranks, self.ranks[1:]):
            self._link(above, rank)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_store(cls, store, rule: str = "majority") -> Taxonomy:
        """The tree of a :class:`~bioscan_h5.store.Store` in its global label indices."""
        ranks = store.schema.ranks
        return cls(ranks, {r: store.codes(r) for r in ranks}, {r: store.categories(r) for r in ranks}, rule)

    @classmethod
    def from_label_space(cls, labels, rule: str = "majority") -> Taxonomy:
        """The tree of a dataset's label space (every store row, in the space's indices)."""
        ranks = labels.store.schema.ranks
        every = slice(None)
        codes = {r: labels.codes(r, every) if r in labels.remap else labels.store.codes(r) for r in ranks}
        return cls(ranks, codes, {r: labels.vocab(r) for r in ranks}, rule)

    def _link(self, above: str, rank: str) -> None:
        """Parents of ``rank`` at ``above`` (and, under ``"split"``, the split labels of ``rank``)."""
        chosen, (c, p, k) = _majority(
            self._codes[rank], self._codes[above], self.num_labels(rank), self.num_labels(above)
        )
        conflicts: list[Conflict] = []
        starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]]) if len(c) else np.zeros(0, dtype=np.int64)
        for s, e in zip(starts, np.r_[starts[1:], len(c)]):
            label = int(c[s])
            parents, counts = tuple(map(int, p[s:e])), tuple(map(int, k[s:e]))
            conflicts.append(
                Conflict(rank, above, label, self._names[rank][label], parents, counts, parents[0])
            )
        self._parents[rank] = chosen
        self._conflicts[rank] = conflicts
        if self.rule == "split" and conflicts:
            self._split(rank, above, conflicts)

    def _split(self, rank: str, above: str, conflicts: list[Conflict]) -> None:
        """Give each (parent, name) of a conflicting label its own index, named ``parent/name``."""
        child, parent = self._codes[rank].astype(np.int64), self._codes[above]
        names, pnames = self._names[rank], self._names[above]
        new_names: list[str] = []
        new_parents: list[int] = []
        table = np.full(len(names), -1, dtype=np.int64)  # old label -> its (majority) new label
        extra: dict[tuple[int, int], int] = {}  # (old label, other parent) -> new label
        split = {c.label: c for c in conflicts}
        for label, name in enumerate(names):
            table[label] = len(new_names)
            conflict = split.get(label)
            if conflict is None:
                new_names.append(name)
                new_parents.append(int(self._parents[rank][label]))
                continue
            for j, p in enumerate(conflict.parents):
                if j:
                    extra[(label, p)] = len(new_names)
                new_names.append(f"{pnames[p]}/{name}")
                new_parents.append(p)
        codes = relabel(table, child)
        for (label, p), new in extra.items():
            codes[(child == label) & (parent == p)] = new
        self._codes[rank] = codes
        self._names[rank] = new_names
        self._parents[rank] = np.asarray(new_parents, dtype=np.int64)

    # ------------------------------------------------------------------ the tree
    def _rank(self, rank: str) -> int:
        if rank not in self.ranks:
            raise InvalidArgumentError(
                f"Invalid rank {rank!r}. Valid ranks are: {', '.join(map(repr, self.ranks))}."
            )
        return self.ranks.index(rank)

    def parent_rank(self, rank: str) -> str | None:
        """The rank above ``rank`` (None for the top rank)."""
        i = self._rank(rank)
        return self.ranks[i - 1] if i else None

    def parents(self, rank: str) -> np.ndarray:
        """For each label index of ``rank``, its parent's index at the rank above (int64, -1 = none)."""
        return self._parents[self.ranks[self._rank(rank)]]

    def names(self, rank: str) -> list[str]:
        """Label names of ``rank`` in index order (``parent/name`` labels under ``"split"``)."""
        return self._names[self.ranks[self._rank(rank)]]

    def codes(self, rank: str) -> np.ndarray:
        """The label index of every row at ``rank`` in this tree's label space (-1 = missing)."""
        return self._codes[self.ranks[self._rank(rank)]]

    def num_labels(self, rank: str) -> int:
        """Labels at ``rank``."""
        return len(self.names(rank))

    def conflicts(self, rank: str | None = None) -> list[Conflict]:
        """Every label with more than one parent (at ``rank``, or at every rank)."""
        ranks = self.ranks if rank is None else (self.ranks[self._rank(rank)],)
        return [c for r in ranks for c in self._conflicts[r]]

    def ancestors(self, rank: str, to_rank: str) -> np.ndarray:
        """For each label of ``rank``, its ancestor at the coarser ``to_rank`` (int64, -1 = none).

        Taken from the rows directly (majority of rows that carry both), so a missing rank in
        between (most genera have no subfamily) does not break the path.
        """
        i, j = self._rank(rank), self._rank(to_rank)
        if j > i:
            raise InvalidArgumentError(
                f"to_rank {to_rank!r} must be {rank!r} or a coarser rank of {self.ranks!r}."
            )
        if j == i:
            return np.arange(self.num_labels(rank), dtype=np.int64)
        if j == i - 1:
            return self._parents[rank]
        if (rank, to_rank) not in self._lifts:
            n, n_to = self.num_labels(rank), self.num_labels(to_rank)
            self._lifts[rank, to_rank] = _majority(self._codes[rank], self._codes[to_rank], n, n_to)[0]
        return self._lifts[rank, to_rank]

    def lift(self, labels: Any, rank: str, to_rank: str) -> Any:
        """Map label indices of ``rank`` (numpy, or torch on any device) to their ancestors at
        ``to_rank`` (-1 stays -1), as int64 of the same kind and device."""
        return relabel(self.ancestors(rank, to_rank), labels)

    def path(self, rank: str, label: int) -> dict[str, int]:
        """The ancestors of one label at every rank down to ``rank`` (``{rank: index}``, -1 = none)."""
        return {r: int(self.ancestors(rank, r)[label]) for r in self.ranks[: self._rank(rank) + 1]}

    def path_names(self, rank: str, label: int) -> dict[str, str | None]:
        """:meth:`path` as label names (None where an ancestor is missing)."""
        return {r: (self._names[r][i] if i >= 0 else None) for r, i in self.path(rank, label).items()}

    def children_counts(self, rank: str) -> np.ndarray:
        """For each label of ``rank``, how many labels of the rank below have it as parent."""
        i, n = self._rank(rank), self.num_labels(rank)
        if i == len(self.ranks) - 1:
            return np.zeros(n, dtype=np.int64)
        p = self._parents[self.ranks[i + 1]]
        return np.bincount(p[p >= 0], minlength=n).astype(np.int64)

    def lowest_common_rank(self, rows_a: Any, rows_b: Any) -> np.ndarray:
        """Per pair of store rows, the position in :attr:`ranks` of the finest rank where both
        carry the same label (-1: none). For dataset samples pass ``ds.rows[i]``."""
        a, b = np.asarray(rows_a), np.asarray(rows_b)
        out = np.full(np.broadcast(a, b).shape, -1, dtype=np.int64)
        for i, rank in enumerate(self.ranks):
            ca, cb = self._codes[rank][a], self._codes[rank][b]
            out[(ca == cb) & (ca >= 0)] = i
        return out

    def common_rank(self, labels_a: Any, labels_b: Any, rank: str) -> Any:
        """Per pair of labels of ``rank``, the position in :attr:`ranks` of the finest rank
        where their ancestors agree (-1: none). numpy arrays or torch tensors (any device)."""
        out = None
        for i, r in enumerate(self.ranks[: self._rank(rank) + 1]):
            ua, ub = self.lift(labels_a, rank, r), self.lift(labels_b, rank, r)
            same = (ua == ub) & (ua >= 0)
            if out is None:
                out = same.long() - 1 if hasattr(same, "long") else same.astype(np.int64) - 1
            out[same] = i
        return out

    def __repr__(self) -> str:
        sizes = ", ".join(f"{r}={self.num_labels(r)}" for r in self.ranks)
        return f"Taxonomy({sizes}, rule={self.rule!r}, conflicts={len(self.conflicts())})"


_BY_LABEL_SPACE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def taxonomy_of(labels, rule: str = "majority") -> Taxonomy:
    """The tree of a :class:`~bioscan_h5.datasets.labels.LabelSpace`, built once per label space."""
    per_rule = _BY_LABEL_SPACE.setdefault(labels, {})
    if rule not in per_rule:
        per_rule[rule] = Taxonomy.from_label_space(labels, rule)
    return per_rule[rule]
