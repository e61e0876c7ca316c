"""Exact TreeSHAP contributions, computed once per decision pattern instead of once per customer.

Why: exact TreeSHAP (``booster.predict(pred_contribs=True)``) costs about 1.4 µs per tree per
customer and was 90% of a weekly scoring run with top drivers. Yet within one tree a
customer's SHAP vector depends on nothing but the direction the customer takes at *each split
node of that tree* (the recursion of TreeSHAP visits every node and uses the feature value only
to choose the "hot" child there). Note: every split node, not only those on the customer's own
root-to-leaf path, so the leaf index alone is *not* the pattern (tested: leaf-keyed
deduplication gives wrong values). A depth-4 tree has 15 split nodes, so at most 2**15
patterns, and in practice a few hundred to a few thousand over 1M customers.

How, per tree ``t`` and per chunk of rows:

1. the direction at every split node of ``t`` for every row, with XGBoost's own decision rule
   (float32 ``value < split_condition`` goes left; missing goes to the default child;
   categorical: a category in the node's set goes right, any other valid or invalid code left),
   packed into one integer key per row;
2. one representative row per distinct key;
3. XGBoost's own ``pred_contribs`` on the representatives with the booster sliced to that single
   tree (``booster[t:t+1]``);
4. the representative's vector scattered back to every row with the same key and added to a
   float32 accumulator, tree after tree in tree order.

XGBoost's CPU predictor accumulates exactly so: for each row, a zeroed float32 vector per tree
is added into the float32 output in tree order, then ``base_score`` (or the base margin) is added
to the bias column. Our accumulator starts at +0.0 and adds the same float32 tree vectors in the
same order, so every feature column is bit-identical. The bias column does not depend on the
row (sum of the trees' mean values plus the base score), so it is copied from XGBoost's full
``pred_contribs`` of a few check rows, which are compared bit for bit with ours on every call:
a mismatch (a future XGBoost changing its accumulation, say) falls back to the full computation
with a warning instead of returning different numbers.

Scope: single-output boosters with one tree per boosting round (our Cox model). Anything else
(multi-class, ``num_parallel_tree > 1``, base margins) takes the full ``pred_contribs`` path.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
import xgboost as xgb

log = logging.getLogger(__name__)

_CHECK_ROWS = 8  # rows verified bit for bit against XGBoost's full pred_contribs per call
# Below this many rows the full computation is cheaper than one small predict call per tree
# (about 1 ms each), and both give the same numbers: the real-time API scores a few rows.
MIN_PATTERN_ROWS = 4096
# Trees with at most this many split nodes (2**20 patterns; depth <= 4 has 15) take the compiled
# kernel: keys index a lookup table directly. Larger trees take the numpy path.
_KERNEL_MAX_NODES = 20


@dataclass(frozen=True)
class _SplitTree:
    """The split nodes of one tree, in the arrays the vectorised decision needs."""

    booster: xgb.Booster  # this tree alone (``booster[t:t+1]``)
    feature: np.ndarray  # int, feature index per split node
    threshold: np.ndarray  # float32 split condition per split node (numeric splits)
    default_left: np.ndarray  # bool per split node
    categories: tuple[np.ndarray | None, ...]  # per split node: categories going right, or None
    is_cat: np.ndarray  # bool per split node
    cat_mask: np.ndarray  # bool (split nodes, max category + 1): category goes right


def _single_threaded(booster: xgb.Booster) -> xgb.Booster:
    """One tree over a few hundred rows: thread start-up would cost more than the work."""
    booster.set_param({"nthread": 1})
    return booster


def _split_trees(booster: xgb.Booster, n_trees: int) -> list[_SplitTree]:
    model = json.loads(booster.save_raw("json"))
    trees = model["learner"]["gradient_booster"]["model"]["trees"][:n_trees]
    out: list[_SplitTree] = []
    for t, tree in enumerate(trees):
        left = np.asarray(tree["left_children"], dtype=np.int64)
        internal = np.flatnonzero(left >= 0)
        split_type = np.asarray(tree["split_type"], dtype=np.int64)
        cat_nodes = [int(n) for n in tree["categories_nodes"]]
        segments = [int(s) for s in tree["categories_segments"]]
        sizes = [int(s) for s in tree["categories_sizes"]]
        all_cats = np.asarray(tree["categories"], dtype=np.int64)
        cat_sets: dict[int, np.ndarray] = {
            node: all_cats[seg : seg + size]
            for node, seg, size in zip(cat_nodes, segments, sizes, strict=True)
        }
        categories = tuple(
            cat_sets.get(int(n), np.empty(0, np.int64)) if split_type[n] == 1 else None
            for n in internal
        )
        width = 1 + max((int(c.max()) for c in categories if c is not None and c.size), default=0)
        cat_mask = np.zeros((len(internal), width), dtype=np.bool_)
        for i, cats in enumerate(categories):
            if cats is not None:
                cat_mask[i, cats] = True
        out.append(
            _SplitTree(
                booster=_single_threaded(booster[t : t + 1]),
                feature=np.asarray(tree["split_indices"], dtype=np.int64)[internal],
                threshold=np.asarray(tree["split_conditions"], dtype=np.float64)[internal].astype(
                    np.float32
                ),
                default_left=np.asarray(tree["default_left"], dtype=np.bool_)[internal],
                categories=categories,
                is_cat=np.array([c is not None for c in categories], dtype=np.bool_),
                cat_mask=cat_mask,
            )
        )
    return out


def _pattern_keys(tree: _SplitTree, x: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """One integer per row identifying its direction at every split node of ``tree``.

    ``x`` is the float32 feature matrix (categoricals as codes, NaN = missing).
    """
    n = x.shape[0]
    n_nodes = len(tree.feature)
    n_words = max(1, -(-n_nodes // 63))
    words = np.zeros((n, n_words), dtype=np.int64)
    for i in range(n_nodes):
        f = int(tree.feature[i])
        col = x[:, f]
        cats = tree.categories[i]
        if cats is None:
            go_left = col < tree.threshold[i]
        else:
            # XGBoost: a valid category in the node's set goes right; anything else left.
            go_left = ~np.isin(col, cats.astype(np.float32))
        go_left = np.where(missing[:, f], tree.default_left[i], go_left)
        words[:, i // 63] |= go_left.astype(np.int64) << np.int64(i % 63)
    if n_words == 1:
        return words[:, 0]
    # Several words: factorize the row tuples (rare: trees with more than 63 split nodes).
    _, inverse = np.unique(words, axis=0, return_inverse=True)
    return np.asarray(inverse, dtype=np.int64).reshape(-1)


@numba.njit(cache=True, nogil=True)
def _patterns_kernel(
    x: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    default_left: np.ndarray,
    is_cat: np.ndarray,
    cat_mask: np.ndarray,
    table: np.ndarray,
    codes: np.ndarray,
    reps: np.ndarray,
) -> int:
    """Pattern code per row and one representative row per pattern; returns the count.

    XGBoost's decision at each split node: NaN takes the default child; a categorical code
    (a whole number) goes right when the node's set holds it, left otherwise (also when it is
    out of range); a number goes left when ``value < threshold`` in float32. ``table`` has
    ``2**len(feature)`` entries, all -1 on entry and again on return.
    """
    n = x.shape[0]
    m = feature.size
    width = cat_mask.shape[1]
    count = 0
    for i in range(n):
        key = 0
        for j in range(m):
            v = x[i, feature[j]]
            if np.isnan(v):
                left = default_left[j]
            elif is_cat[j]:
                c = int(v)
                left = not (v >= 0 and c < width and cat_mask[j, c])
            else:
                left = v < threshold[j]
            if left:
                key |= 1 << j
        slot = table[key]
        if slot < 0:
            slot = count
            table[key] = slot
            reps[slot] = i
            count += 1
        codes[i] = slot
    for k in range(count):  # reset only the entries used
        key = 0
        i = reps[k]
        for j in range(m):
            v = x[i, feature[j]]
            if np.isnan(v):
                left = default_left[j]
            elif is_cat[j]:
                c = int(v)
                left = not (v >= 0 and c < width and cat_mask[j, c])
            else:
                left = v < threshold[j]
            if left:
                key |= 1 << j
        table[key] = -1
    return count


@numba.njit(cache=True, nogil=True)
def _scatter_add(acc: np.ndarray, per_pattern: np.ndarray, codes: np.ndarray) -> None:
    """``acc[i] += per_pattern[codes[i]]`` in float32, row by row (no reassociation)."""
    n, k = acc.shape
    for i in range(n):
        row = per_pattern[codes[i]]
        for c in range(k):
            acc[i, c] += row[c]


def _patterns(
    tree: _SplitTree, x: np.ndarray, missing: np.ndarray, table: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(pattern code per row, one representative row per pattern) for ``tree``."""
    n = x.shape[0]
    if table is not None and len(tree.feature) <= _KERNEL_MAX_NODES:
        codes = np.empty(n, dtype=np.int64)
        reps = np.empty(n, dtype=np.int64)
        count = _patterns_kernel(
            x,
            tree.feature,
            tree.threshold,
            tree.default_left,
            tree.is_cat,
            tree.cat_mask,
            table,
            codes,
            reps,
        )
        return codes, reps[:count]
    keys = _pattern_keys(tree, x, missing)
    factorized, _ = pd.factorize(keys)
    codes = np.asarray(factorized, dtype=np.int64)
    reps = np.empty(int(codes.max()) + 1, dtype=np.int64)
    reps[codes] = np.arange(n)  # any row of a pattern represents it
    return codes, reps


class PatternTreeShap:
    """Exact per-customer TreeSHAP of the first ``n_trees`` trees of ``booster`` (see module doc).

    ``contributions(frame)`` returns the same float32 matrix as
    ``booster.predict(DMatrix(frame), pred_contribs=True, iteration_range=(0, n_trees))``.
    """

    def __init__(self, booster: xgb.Booster, n_trees: int, feature_names: list[str]) -> None:
        self.booster = booster
        self.n_trees = int(n_trees)
        self.feature_names = list(feature_names)
        config = json.loads(booster.save_config())
        learner = config["learner"]
        n_targets = max(
            int(learner["learner_model_param"].get("num_class", "0") or 0),
            int(learner["learner_model_param"].get("num_target", "1") or 1),
            1,
        )
        gbtree = learner["gradient_booster"]
        parallel = int(gbtree.get("gbtree_model_param", {}).get("num_parallel_tree", "1") or 1)
        self.supported = (
            gbtree.get("name") == "gbtree" and n_targets == 1 and parallel == 1 and n_trees > 0
        )
        self._trees = _split_trees(booster, self.n_trees) if self.supported else []
        self.fallbacks = 0

    def _full(self, dm: xgb.DMatrix) -> np.ndarray:
        out = self.booster.predict(dm, pred_contribs=True, iteration_range=(0, self.n_trees))
        return np.asarray(out, dtype=np.float32)

    def contributions(
        self, matrix: pd.DataFrame, feature_types: list[str] | None = None
    ) -> np.ndarray:
        """(rows, features + 1) float32 contributions; the last column is the bias.

        ``matrix``: the model matrix (numeric float columns and pandas Categorical columns in the
        model's feature order), as :func:`churn_platform.model.xgb_cox.model_matrix` builds it.
        """
        n = len(matrix)
        types = feature_types or [
            "c" if isinstance(matrix[c].dtype, pd.CategoricalDtype) else "q" for c in matrix
        ]
        x = np.empty((n, matrix.shape[1]), dtype=np.float32)
        for j, name in enumerate(matrix.columns):
            col = matrix[name]
            if isinstance(col.dtype, pd.CategoricalDtype):
                cat_codes = np.asarray(col.cat.codes, dtype=np.float32)
                cat_codes[cat_codes < 0] = np.nan
                x[:, j] = cat_codes
            else:
                x[:, j] = np.asarray(col, dtype=np.float32)

        def dmatrix(rows: np.ndarray, nthread: int = 1) -> xgb.DMatrix:
            return xgb.DMatrix(
                rows,
                feature_names=self.feature_names,
                feature_types=types,
                enable_categorical=True,
                nthread=nthread,
            )

        if n < MIN_PATTERN_ROWS or not self.supported:
            return self._full(dmatrix(x, nthread=-1))
        missing = np.isnan(x)
        acc = np.zeros((n, x.shape[1] + 1), dtype=np.float32)
        widest = max((len(t.feature) for t in self._trees), default=0)
        table = (
            np.full(1 << min(widest, _KERNEL_MAX_NODES), -1, dtype=np.int64)
            if _KERNEL_MAX_NODES > 0
            else None
        )
        for tree in self._trees:
            codes, reps = _patterns(tree, x, missing, table)
            per_pattern = tree.booster.predict(dmatrix(x[reps]), pred_contribs=True)
            _scatter_add(acc, np.ascontiguousarray(per_pattern, dtype=np.float32), codes)
        check = np.unique(np.linspace(0, n - 1, num=min(n, _CHECK_ROWS)).astype(np.int64))
        reference = self._full(dmatrix(x[check]))
        acc[:, -1] = reference[0, -1]  # the bias column is the same for every row
        if not np.array_equal(acc[check].view(np.int32), reference.view(np.int32)):
            self.fallbacks += 1
            warnings.warn(
                "pattern TreeSHAP differed from XGBoost's pred_contribs on check rows; "
                "using the full computation for this chunk",
                RuntimeWarning,
                stacklevel=2,
            )
            return self._full(dmatrix(x, nthread=-1))
        return acc
