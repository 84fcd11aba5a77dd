"""The sklvar estimators (layer 6).

``VariationalImputer`` is imported lazily, so that ``from sklvar.impute import
DictionaryImputer`` does not import torch.
"""

__all__ = ["DictionaryImputer", "TrainingInterruptedWarning", "VariationalImputer"]


def __getattr__(name):
    if name == "VariationalImputer":
        from ._variational import VariationalImputer

        return VariationalImputer
    if name == "TrainingInterruptedWarning":
        from ._variational import TrainingInterruptedWarning

        return TrainingInterruptedWarning
    if name == "DictionaryImputer":
        from ._dictionary import DictionaryImputer

        return DictionaryImputer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
