"""cxrlib: the library behind the cxr-ssl companion book."""
__version__ = "0.1.0"
