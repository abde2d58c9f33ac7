"""The model registry: immutable, signed model versions with lineage, and their stages.

``service`` registers and verifies versions, ``stages`` promotes them (the ``Model``
document), ``trust`` holds the keys and certificates signatures must chain to, and
``signing`` wraps OpenSSF model signing (``model-signing``), offline.
"""
