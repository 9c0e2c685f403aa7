"""``einsum``: the general multilinear operation, and the Jacobian every product shares.

``E = einsum("ij,jk->ik", A, B)`` is a sum of products of entries, each
entry of each operand used once per term. So the derivative with respect to
one operand is the product of the *others*, with Kronecker deltas tying that
operand's labels to the output's:

    E_ik = Σ_j A_ij B_jk       ∂E_ab/∂A_cd = δ_ac B_db

A label that operand shares with the output becomes a delta (``i`` → ``δ_ac``);
a label it shares only with other operands is no longer summed, it names the
input's own axis (``j`` → ``d``); the other operands, contracted over the
labels only they carry, make one coefficient. ``matmul``, ``outer``,
``trace``, ``dot`` and ``tensordot`` are all einsums of this kind.
"""
import string

import numpy as np

from ..contract import contract
from ..index import Delta, Factor, term
from .base import Op

_LETTERS = set(string.ascii_letters)


def parse_spec(spec, ndims):
    """The subscripts of each operand and of the output, in explicit form.

    Parameters
    ----------
    spec : str
        NumPy's subscripts, ``"ij,jk->ik"``; without ``->`` the output is
        every label used once, in alphabetical order, as in NumPy.
    ndims : sequence of int
        Each operand's number of axes.

    Raises
    ------
    ValueError
        For ``...``, characters that are not letters, a count of subscripts
        that does not match the operands or their axes, or an output label
        that no operand has.

    Examples
    --------
    >>> parse_spec("ij,jk", (2, 2))
    (('ij', 'jk'), 'ik')
    """
    if not isinstance(spec, str):
        raise TypeError(f"einsum: the subscripts must be a string like 'ij,jk->ik', got "
                        f"{spec!r}")
    spec = spec.replace(" ", "")
    if "." in spec:
        raise ValueError(f"einsum: {spec!r} uses '...'; write every axis out with a letter")
    inputs, arrow, output = spec.partition("->")
    terms = tuple(inputs.split(","))
    if len(terms) != len(ndims):
        raise ValueError(f"einsum: {spec!r} has subscripts for {len(terms)} operand(s) but "
                         f"{len(ndims)} were given")
    if not arrow:
        used = "".join(terms)
        output = "".join(sorted(x for x in set(used) if used.count(x) == 1))
    for k, (labels, n) in enumerate(zip(terms, ndims)):
        if not set(labels) <= _LETTERS:
            raise ValueError(f"einsum: subscripts are letters; operand {k} has {labels!r}")
        if len(labels) != n:
            raise ValueError(f"einsum: operand {k} has {n} axes but the subscripts "
                             f"{labels!r} name {len(labels)}")
    missing = set(output) - set("".join(terms))
    if not set(output) <= _LETTERS or missing:
        raise ValueError(f"einsum: the output {output!r} has labels no operand has: "
                         f"{''.join(sorted(missing))}")
    if len(set(output)) != len(output):
        raise ValueError(f"einsum: the output {output!r} repeats a label")
    return terms, output


class Einsum(Op):
    """``E = einsum(spec, A, B, …)``, called as NumPy's: ``jac.einsum("ij,jk->ik", A, B)``.

    Notes
    -----
    With ``s`` the operand's subscripts and ``o`` the output's,
    ``∂E_o/∂A_s`` is the einsum of the other operands onto the labels they
    share with ``o`` or ``s``, times ``δ`` between each label of ``s`` and
    its place in ``o`` (or its first place in ``s``, for a diagonal such as
    ``"ii->i"``). VJP: the same einsum with ``g`` in the operand's place and
    the operand's subscripts as output; JVP: with ``t`` in its place.

    Second derivative: zero w.r.t. one operand twice (``E`` is linear in
    each). Across two operands it is the einsum of the remaining ones, with
    each label of the two tied by a delta to its output label, or to its
    place in the other operand of the two when they share a summed label:
    ``∂²E_ab/∂A_cd∂C_ef = δ_ac B_de δ_bf`` for ``"ij,jk,kl->il"``, and
    ``∂²E_ab/∂A_cd∂B_ef = δ_ac δ_de δ_bf`` for ``"ij,jk->ik"``.

    >>> import jacobians as jac
    >>> A, B = np.ones((2, 3)), np.ones((3, 4))
    >>> print(jac.einsum.formula("ij,jk->ik", A, B, wrt=1))
    ∂E_ab/∂B_cd = A_ac δ_bd
    >>> print(jac.einsum.formula("ij,jk,kl->il", A, B, np.ones((4, 2)), wrt=1))
    ∂E_ab/∂B_cd = A_ac C_db
    >>> print(jac.einsum.formula("ij,jk,kl->il", A, B, np.ones((4, 2))))
    ∂E_ab/∂A_cd = δ_ac (Σ_k B·C)_db
    """
    name = "einsum"
    leading = "spec"
    variadic = True
    params = required = ("spec",)
    out_name = "E"
    examples = ((((2, 3), (3, 4)), {"spec": "ij,jk->ik"}),
                (((2, 3), (3, 4), (4, 2)), {"spec": "ij,jk,kl->il"}),
                (((2, 3, 4), (2, 4, 5)), {"spec": "bij,bjk->bik"}),
                (((3, 3),), {"spec": "ii->i"}),
                (((3, 3),), {"spec": "ii"}),
                (((2, 3), (3,)), {"spec": "ij,j->ij"}),
                (((3,), (4,)), {"spec": "i,j->ij"}),
                (((3,), (3,)), {"spec": "i,i->"}),
                (((2, 3),), {"spec": "ij->"}))

    def names_for(self, n):
        return tuple(string.ascii_uppercase[:n])

    def _check(self, *args, spec):
        terms, output = parse_spec(spec, [a.ndim for a in args])
        sizes = {}
        for k, (labels, a) in enumerate(zip(terms, args)):
            for x, n in zip(labels, a.shape):
                if sizes.setdefault(x, (n, k))[0] != n:
                    size, first = sizes[x]
                    raise ValueError(
                        f"einsum: label {x!r} has size {size} in operand {first} "
                        f"(shape {args[first].shape}) but size {n} in operand {k} "
                        f"(shape {a.shape}), axis {labels.index(x)}")

    def _value(self, *args, spec):
        terms, output = parse_spec(spec, [a.ndim for a in args])
        return contract(f"{','.join(terms)}->{output}", *args)

    def _terms(self, wrt, args, out, labels, names, spec):
        terms, output = parse_spec(spec, [a.ndim for a in args])
        O, I = labels
        own = terms[wrt]
        # Each einsum label's Jacobian label: its output axis, else the operand's own axis.
        jacobian_label = {x: I[own.index(x)] for x in own}
        jacobian_label.update({x: O[output.index(x)] for x in output})
        parts = []
        for p, x in enumerate(own):
            first = own.index(x)
            if first < p:  # a repeated label: a diagonal of the operand
                parts.append(Delta(I[first], I[p]))
            elif x in output:
                parts.append(Delta(O[output.index(x)], I[p]))
        others = [k for k in range(len(args)) if k != wrt]
        kept = set(own) | set(output)
        if all(set(terms[k]) <= kept and len(set(terms[k])) == len(terms[k]) for k in others):
            # Nothing is summed among the others: each is a factor of its own, in spec order.
            before = [Factor(names[k], "".join(jacobian_label[x] for x in terms[k]), args[k])
                      for k in others]
            split = sum(1 for k in others if k < wrt)
            return [term(*before[:split], *parts, *before[split:])]
        coefficient = self._coefficient(others, terms, output, own, args, names,
                                        jacobian_label)
        parts.insert(0 if others[0] < wrt else len(parts), coefficient)
        return [term(*parts)]

    def _second_terms(self, i, j, args, out, labels, names, spec):
        if i == j:  # linear in each operand
            return []
        terms, output = parse_spec(spec, [a.ndim for a in args])
        O = labels[0]
        # The two operands in spec order, each with its labels in this second derivative.
        pair = sorted([(i, labels[1]), (j, labels[2])])
        # Each einsum label's label here: its output axis, else its first place in the pair.
        jacobian_label = {}
        for k, L in reversed(pair):
            jacobian_label.update({x: L[p] for p, x in reversed(list(enumerate(terms[k])))})
        jacobian_label.update({x: O[output.index(x)] for x in output})
        sections = {}
        for n, (k, L) in enumerate(pair):
            parts = []
            for p, x in enumerate(terms[k]):
                first = terms[k].index(x)
                if first < p:  # a repeated label: a diagonal of the operand
                    parts.append(Delta(L[first], L[p]))
                elif x in output:
                    parts.append(Delta(O[output.index(x)], L[p]))
                elif n == 1 and x in terms[pair[0][0]]:  # summed between the two
                    tie = (jacobian_label[x], L[p])  # written with i's label first
                    parts.append(Delta(*tie) if k == j else Delta(*tie[::-1]))
            sections[k] = parts
        own = terms[i] + terms[j]
        others = [k for k in range(len(args)) if k not in (i, j)]
        kept = set(own) | set(output)
        if all(set(terms[k]) <= kept and len(set(terms[k])) == len(terms[k]) for k in others):
            # Nothing is summed among the others: each is a factor of its own, in spec order.
            for k in others:
                sections[k] = [Factor(names[k], "".join(jacobian_label[x] for x in terms[k]),
                                      args[k])]
        else:
            sections[others[0]] = [self._coefficient(others, terms, output, own, args, names,
                                                      jacobian_label)]
        return [term(*(p for k in sorted(sections) for p in sections[k]))]

    def _coefficient(self, others, terms, output, own, args, names, jacobian_label):
        """The other operands contracted onto the labels they share with the output or ``own``."""
        carried = "".join(terms[k] for k in others)
        kept = "".join(dict.fromkeys(x for x in carried if x in output or x in own))
        value = contract(f"{','.join(terms[k] for k in others)}->{kept}",
                         *(args[k] for k in others))
        summed = "".join(dict.fromkeys(x for x in carried if x not in kept))
        product = "·".join(names[k] for k in others)
        if summed:    # (Σ_k B·C)_db = Σ_k B_dk C_kb
            name = f"(Σ_{summed} {product})"
        elif len(others) == 1:  # the other operand's diagonal: diag(B)_b = B_bb
            name = f"diag({product})"
        else:
            name = f"({product})"
        return Factor(name, "".join(jacobian_label[x] for x in kept), value)

    def vjp_rule(self, wrt, g, args, out, spec):
        terms, output = parse_spec(spec, [a.ndim for a in args])
        own = terms[wrt]
        others = [k for k in range(len(args)) if k != wrt]
        carried = output + "".join(terms[k] for k in others)
        # The einsum with g in the operand's place, onto the operand's distinct labels
        # that something carries; a repeated label is a diagonal, a missing one a broadcast.
        kept = "".join(x for x in dict.fromkeys(own) if x in carried)
        core = contract(f"{','.join([output] + [terms[k] for k in others])}->{kept}",
                        g, *(args[k] for k in others))
        if kept == own:
            return core
        distinct = "".join(dict.fromkeys(own))
        core = core[tuple(slice(None) if x in kept else None for x in distinct)]
        result = np.zeros(args[wrt].shape, like=args[wrt])
        diagonal = result if distinct == own else np.einsum(f"{own}->{distinct}", result)
        np.copyto(diagonal, core)
        return result

    def jvp_rule(self, wrt, t, args, out, spec):
        terms, output = parse_spec(spec, [a.ndim for a in args])
        operands = [t if k == wrt else a for k, a in enumerate(args)]
        return contract(f"{','.join(terms)}->{output}", *operands)


einsum = Einsum()
