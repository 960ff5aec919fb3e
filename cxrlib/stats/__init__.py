"""Statistics without torch: metrics (:mod:`.metrics`), DeLong, bootstrap and FDR (:mod:`.inference`),
tables of prediction files (:mod:`.evaluate`) and simulations of label noise (:mod:`.simulate`).

Imports only :mod:`cxrlib.core` (and numpy, pandas, scipy, scikit-learn); never torch.
"""
