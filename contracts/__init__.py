"""Contracts between services that are not GraphQL: the domain events (`events`).

Producers and consumers import these; the router does not. Contracts import nothing but
the kernel.
"""
