"""Test doubles that are not the product: the scripted model that speaks the Messages API.

Tests, the benchmarks and the demo use :mod:`app.testing.scripted_model` to play the model over
real HTTP on 127.0.0.1; nothing in the engine imports this package (an import-linter
contract checks it).
"""
