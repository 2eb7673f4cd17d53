"""Checks a DPoP proof (RFC 9449 4.3) the way a resource or authorization server does, standard
library only: the JWT's header (typ dpop+jwt, alg ES256, a public jwk), its ES256 signature
verified with that jwk (P-256 arithmetic below), htm, htu, iat, jti, ath and nonce. For the
fakes' DPoP mode (tests/fakes/fake_oauth.py).

    claims, jkt = check(proof, "POST", "http://127.0.0.1:1/token", seen_jtis)
"""
import base64
import hashlib
import json
import time

# P-256 (FIPS 186-4 D.1.2.3)
P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff
A = P - 3
N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551
G = (0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296,
     0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5)
B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b


def _add(p, q):
    if p is None:
        return q
    if q is None:
        return p
    if p[0] == q[0] and (p[1] + q[1]) % P == 0:
        return None
    if p == q:
        m = (3 * p[0] * p[0] + A) * pow(2 * p[1], -1, P) % P
    else:
        m = (q[1] - p[1]) * pow(q[0] - p[0], -1, P) % P
    x = (m * m - p[0] - q[0]) % P
    return x, (m * (p[0] - x) - p[1]) % P


def _mul(k, p):
    r = None
    while k:
        if k & 1:
            r = _add(r, p)
        p = _add(p, p)
        k >>= 1
    return r


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def es256_verify(x, y, signing_input, sig):
    """Whether sig (r || s, 64 bytes) is an ECDSA P-256 SHA-256 signature of signing_input."""
    if len(sig) != 64 or (y * y - x * x * x - A * x - B) % P:
        return False
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    e = int.from_bytes(hashlib.sha256(signing_input).digest(), "big")
    w = pow(s, -1, N)
    pt = _add(_mul(e * w % N, G), _mul(r * w % N, (x, y)))
    return pt is not None and pt[0] % N == r


def thumbprint(jwk):
    """RFC 7638's SHA-256 thumbprint of an EC jwk (cnf.jkt)."""
    canon = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"),
                       sort_keys=True)
    return b64url(hashlib.sha256(canon.encode()).digest())


def check(proof, method, url, seen_jtis, access_token=None):
    """The proof's claims and its key's thumbprint; ValueError says what is wrong."""
    if not proof or proof.count(".") != 2 or "," in proof:
        raise ValueError("not one compact JWT")
    h64, c64, s64 = proof.split(".")
    header, claims = json.loads(unb64url(h64)), json.loads(unb64url(c64))
    jwk = header.get("jwk") or {}
    if header.get("typ") != "dpop+jwt" or header.get("alg") != "ES256":
        raise ValueError(f"header {header}")
    if "d" in jwk or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("jwk is not a public P-256 key")
    x, y = (int.from_bytes(unb64url(jwk[k]), "big") for k in ("x", "y"))
    if not es256_verify(x, y, f"{h64}.{c64}".encode(), unb64url(s64)):
        raise ValueError("signature does not verify with the jwk")
    if claims.get("htm") != method or claims.get("htu") != url:
        raise ValueError(f"htm/htu {claims.get('htm')} {claims.get('htu')} != {method} {url}")
    if abs(time.time() - claims.get("iat", 0)) > 60:
        raise ValueError("iat out of window")
    jti = claims.get("jti")
    if not isinstance(jti, str) or jti in seen_jtis:
        raise ValueError("jti missing or replayed")
    seen_jtis.add(jti)
    if access_token is not None and \
            claims.get("ath") != b64url(hashlib.sha256(access_token.encode()).digest()):
        raise ValueError("ath does not match the access token")
    return claims, thumbprint(jwk)
