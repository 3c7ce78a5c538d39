"""VCCS step 5 (``redal_core.regions.vccs``'s docstring): completion of the expansion's labels, i.e. flood
unowned voxels, split fragments, merge small and isolated regions, renumber.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.spatial import cKDTree

from redal_core.regions.vccs_kernels import _centroids, _distance

# ----------------------------------------------------------------------------------------------------------
# completion: flood unowned voxels, split fragments, merge small regions


def _complete(vox_xyz, vox_rgb, vox_nrm, nbr, nbr_count, owner, min_voxels, wc, ws, wn) -> np.ndarray:
    n_sv = int(owner.max()) + 1
    label = _flood(vox_xyz, vox_rgb, vox_nrm, nbr, nbr_count, owner, n_sv, wc, ws, wn)
    label[label < 0] = n_sv  # voxels no seed reaches: split into their components next
    label = _split_components(label, nbr, nbr_count)
    if min_voxels > 1:
        label = _merge_small(vox_xyz, vox_rgb, vox_nrm, nbr, nbr_count, label, min_voxels, wc, ws, wn)
        label = _merge_isolated(vox_xyz, label, min_voxels)
    return _renumber(label)


@numba.njit(cache=True)
def _flood(vox_xyz, vox_rgb, vox_nrm, nbr, nbr_count, owner, n_sv, wc, ws, wn):
    """Breadth-first flood of unowned voxels from owned ones (rule 5a); still -1 where unreachable."""
    label = owner.copy()
    c_xyz, c_rgb, c_nrm, _ = _centroids(vox_xyz, vox_rgb, vox_nrm, owner, n_sv)
    n_vox = label.shape[0]
    frontier = np.empty(n_vox, np.int64)
    n_front = 0
    for v in range(n_vox):
        if label[v] < 0:
            for a in range(nbr_count[v]):
                if label[nbr[v, a]] >= 0:
                    frontier[n_front] = v
                    n_front += 1
                    break
    queued = np.zeros(n_vox, np.bool_)
    choice = np.empty(n_vox, np.int64)
    next_front = np.empty(n_vox, np.int64)
    while n_front > 0:
        for f in range(n_front):
            v = frontier[f]
            best = np.inf
            best_s = -1
            for a in range(nbr_count[v]):
                s = label[nbr[v, a]]
                if s < 0:
                    continue
                d = _distance(vox_xyz, vox_rgb, vox_nrm, v, c_xyz, c_rgb, c_nrm, s, wc, ws, wn)
                if d < best or (d == best and s < best_s):
                    best = d
                    best_s = s
            choice[f] = best_s
        for f in range(n_front):
            label[frontier[f]] = choice[f]
        n_next = 0
        for f in range(n_front):
            v = frontier[f]
            for a in range(nbr_count[v]):
                u = nbr[v, a]
                if label[u] < 0 and not queued[u]:
                    queued[u] = True
                    next_front[n_next] = u
                    n_next += 1
        frontier[:n_next] = np.sort(next_front[:n_next])
        n_front = n_next
    return label


@numba.njit(cache=True)
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(cache=True)
def _split_components(label, nbr, nbr_count):
    """Every connected component of equally labelled voxels as its own label (rule 5b)."""
    n_vox = label.shape[0]
    parent = np.arange(n_vox)
    for v in range(n_vox):
        for a in range(nbr_count[v]):
            u = nbr[v, a]
            if u > v and label[u] == label[v]:
                ru = _find(parent, u)
                rv = _find(parent, v)
                if ru != rv:
                    if ru < rv:
                        parent[rv] = ru
                    else:
                        parent[ru] = rv
    out = np.empty(n_vox, np.int64)
    for v in range(n_vox):
        out[v] = _find(parent, v)
    return out


@numba.njit(cache=True)
def _renumber_inplace(label):
    n = label.shape[0]
    mapping = np.full(n + 1, -1, np.int64)
    k = 0
    for v in range(n):
        s = label[v]
        if mapping[s] < 0:
            mapping[s] = k
            k += 1
        label[v] = mapping[s]
    return k


def _renumber(label: np.ndarray) -> np.ndarray:
    """Dense ids 0..R-1 in the order of each region's first voxel (labels must be < V + 1)."""
    label = label.astype(np.int64, copy=True)
    if label.max() > label.shape[0]:
        _, label = np.unique(label, return_inverse=True)
        label = label.astype(np.int64)
    _renumber_inplace(label)
    return label


@numba.njit(cache=True)
def _merge_small(vox_xyz, vox_rgb, vox_nrm, nbr, nbr_count, label, min_voxels, wc, ws, wn):
    """Rule 5c: small regions join their nearest adjacent region in D, until none can."""
    n_vox = label.shape[0]
    label = label.copy()
    n_labels = _renumber_inplace(label)
    while True:
        c_xyz, c_rgb, c_nrm, size = _centroids(vox_xyz, vox_rgb, vox_nrm, label, n_labels)
        best = np.full(n_labels, np.inf)
        target = np.full(n_labels, -1, np.int64)
        for v in range(n_vox):
            r = label[v]
            if size[r] >= min_voxels:
                continue
            for a in range(nbr_count[v]):
                t = label[nbr[v, a]]
                if t == r:
                    continue
                d = _distance(c_xyz, c_rgb, c_nrm, r, c_xyz, c_rgb, c_nrm, t, wc, ws, wn)
                if d < best[r] or (d == best[r] and t < target[r]):
                    best[r] = d
                    target[r] = t
        parent = np.arange(n_labels)
        merged = 0
        for r in range(n_labels):
            if target[r] >= 0:
                a = _find(parent, r)
                b = _find(parent, target[r])
                if a != b:
                    if a < b:
                        parent[b] = a
                    else:
                        parent[a] = b
                    merged += 1
        if merged == 0:
            return label
        for v in range(n_vox):
            label[v] = _find(parent, label[v])
        n_labels = _renumber_inplace(label)


def _merge_isolated(vox_xyz: np.ndarray, label: np.ndarray, min_voxels: int) -> np.ndarray:
    """Rule 5d: a small region without neighbours joins the region of the nearest voxel of a large region.

    The nearest pair is taken over all voxels of the small region (ties: the lower voxel row).
    """
    size = np.bincount(label)
    small = size[label] < min_voxels
    if not small.any() or small.all():
        return label
    large = np.flatnonzero(~small)
    small_rows = np.flatnonzero(small)
    dist, nearest = cKDTree(vox_xyz[large]).query(vox_xyz[small_rows], k=1)
    small_labels = label[small_rows]
    order = np.lexsort((small_rows, dist, small_labels))  # per small region: its closest voxel first
    regions, first = np.unique(small_labels[order], return_index=True)
    targets = label[large[nearest[order[first]]]]
    out = label.copy()
    out[small_rows] = targets[np.searchsorted(regions, small_labels)]
    return out
