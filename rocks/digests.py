"""BLAKE2b without `hashlib`: importing hashlib loads OpenSSL's bindings (~11 M instructions,
a few milliseconds), which every short-lived `rocks` process that only needs a digest would pay
for; CPython's builtin _blake2 module is the same function."""

from __future__ import annotations

try:
    from _blake2 import blake2b
except ImportError:  # a Python built without it
    from hashlib import blake2b

__all__ = ["blake2b"]
