"""Spirograph (Foster, Pukdee & Rainforth 2021): hypotrochoid curves drawn with a Gaussian kernel.

``spec.py`` holds the registered ``GeneratorSpec``; ``factors.py`` the ten factors, ``render.py``
the separable renderer (curve, kernel, row normalisation, exponent floor), ``dense.py`` the dense
reference form of the original code and ``shifts.py`` the four robustness shift families.
"""
