#!/usr/bin/env python3
"""Values that X25519SuiteTests.badValues must see refused, computed once with Python integers
(outside the Swift code, and not with libsodium, whose ladder is what the library's check uses).

    python3 scripts/kat/x25519_bad_points.py HONEST_U_HEX

HONEST_U_HEX: a blinded value of the suite (a*u of the first item printed by
x25519_ell2_sha512_kat.c). Prints, as RFC 7748 little-endian hex:
- twist: the smallest u >= 2 on the quadratic twist whose point has a large-order component
  (u^3 + A u^2 + u is not a square mod p);
- torsion: the honest point plus the point (0, 0) of order 2, u' = 1/u: on the curve, but not
  in the prime-order subgroup.
Each claim is checked here with the textbook definitions (Euler's criterion, an x-only ladder).
"""
import sys

p = 2**255 - 19
A = 486662
l = 2**252 + 27742317777372353535851937790883648493
l_twist = (p + 1) // 2 - 2 * l  # the twist has order 4 * l_twist


def on_curve(u):
    return pow((u**3 + A * u * u + u) % p, (p - 1) // 2, p) != p - 1


def ladder(k, u):
    """x-only Montgomery ladder without clamping; returns (X, Z), Z == 0 for the identity."""
    x2, z2, x3, z3 = 1, 0, u, 1
    for t in reversed(range(k.bit_length())):
        bit = (k >> t) & 1
        if bit:
            x2, z2, x3, z3 = x3, z3, x2, z2
        a, b, c, d = (x2 + z2) % p, (x2 - z2) % p, (x3 + z3) % p, (x3 - z3) % p
        da, cb = d * a % p, c * b % p
        x3, z3 = (da + cb) ** 2 % p, u * (da - cb) ** 2 % p
        aa, bb = a * a % p, b * b % p
        e = (aa - bb) % p
        x2, z2 = aa * bb % p, e * (aa + (A - 2) // 4 * e) % p
        if bit:
            x2, z2, x3, z3 = x3, z3, x2, z2
    return x2, z2


def le(u):
    return u.to_bytes(32, "little").hex()


honest = int.from_bytes(bytes.fromhex(sys.argv[1]), "little")
assert on_curve(honest) and ladder(l, honest)[1] == 0, "the given value is not in the prime-order subgroup"

twist = next(u for u in range(2, 1000) if not on_curve(u) and ladder(4, u)[1] != 0)
assert ladder(4 * l_twist, twist)[1] == 0 and ladder(l, twist)[1] != 0
print("twist", le(twist))

torsion = pow(honest, p - 2, p)
assert on_curve(torsion) and ladder(l, torsion)[1] != 0 and ladder(8 * l, torsion)[1] == 0
print("torsion", le(torsion))
