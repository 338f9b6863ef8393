"""Engine plug-ins, one module per engine (see :mod:`.plugin`), listed by :mod:`.registry`.

Engines import nothing from api/, workers/ or cli/: they receive their settings and
device from whoever loads them.
"""
