"""Is a partition of a graph into kernels schedulable? Fusion's last check.

Fusion replaces each group of nodes by one node. The result is a graph again
(acyclic) exactly when the *quotient* graph is: one unit per group, one per
node left alone, and an edge wherever a unit reads a value another unit
computes. A group that is not convex (a path leaves it and comes back, through
any node or other group) closes a cycle through itself; two convex groups
that feed each other close one between them. Both are the same question, and
a walk over the graph's edges answers it in linear time, so fusion checks
every partition before it changes anything rather than trusting its own
incremental rules.
"""

__all__ = ["quotient_cycle"]


def quotient_cycle(nodes, groups):
    """A cycle of the quotient of ``nodes`` by ``groups``, as a list of units each
    feeding the next (the last feeds the first), or None.

    ``groups`` is a list of (members, copies): ``copies`` are members recomputed in
    the group, never its outputs (a reader elsewhere gets them from another group or
    from the node left standing). A unit is ``("g", k)`` for group ``k`` or
    ``("n", node)`` for a node computed on its own."""
    holders, owner = {}, {}
    for k, (members, copies) in enumerate(groups):
        for m in members:
            holders.setdefault(m, set()).add(k)
            if m not in copies:
                owner[m] = k
    succ = {}
    for v in nodes:
        readers = [("g", k) for k in holders.get(v, ())]
        if v not in owner:  # computed on its own too (for readers outside its groups)
            readers.append(("n", v))
        for inp in v.inputs:
            u = inp.owner
            if u is None:
                continue
            src = ("g", owner[u]) if u in owner else ("n", u)
            inside = holders.get(u, ())
            for r in readers:
                if r != src and not (r[0] == "g" and r[1] in inside):
                    succ.setdefault(src, {})[r] = None
    return _find_cycle(succ)


def _find_cycle(succ):
    """A cycle of the graph ``succ`` (unit -> its successors), or None: iterative DFS."""
    done, on_path = set(), {}
    for root in succ:
        if root in done:
            continue
        path, stack = [root], [iter(succ.get(root, ()))]
        on_path[root] = 0
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                unit = path.pop()
                del on_path[unit]
                done.add(unit)
                stack.pop()
            elif nxt in on_path:
                return path[on_path[nxt]:]
            elif nxt not in done:
                on_path[nxt] = len(path)
                path.append(nxt)
                stack.append(iter(succ.get(nxt, ())))
    return None
