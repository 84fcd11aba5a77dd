"""Safe persistence of fitted sklvar estimators: ``save`` and ``load``.

The file is a numpy ``.npz`` archive holding numeric arrays (the weights of
the torch model included) and one JSON document (the parameters, the fitted
metadata, the sklvar version); it is read with ``allow_pickle=False``, so
loading a file never executes code, unlike pickle or ``torch.load`` without
``weights_only=True``. Torch-free: the torch model is rebuilt by the
estimator (``_restore_net``) from its parameters and fitted layout.
"""

import json
import math
import sys
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.impute import MissingIndicator

from ..utils import SampleCodec, SampleLayout, Standardization

FORMAT = "sklvar-estimator"
FORMAT_VERSION = 1


def _sklvar_version():
    # the package is imported whenever this module is; not imported here, so
    # that layer 6 does not import the public API (tests/test_layers.py)
    return sys.modules["sklvar"].__version__


class _Writer:
    """Collects the arrays of an archive while encoding values to JSON."""

    def __init__(self):
        self.arrays = {}

    def array(self, a):
        key = f"a{len(self.arrays)}"
        a = np.asarray(a)
        if a.dtype.kind not in "biuf":
            raise TypeError(f"array of dtype {a.dtype}")
        self.arrays[key] = a
        return {"kind": "array", "key": key}

    def value(self, v, where):
        """JSON-encodable form of a plain value (tuples kept as tuples)."""
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, Integral):
            return int(v)
        if isinstance(v, Real):
            v = float(v)
            return {"kind": "float", "value": repr(v)} if not math.isfinite(v) else v
        if isinstance(v, (tuple, list)):
            items = [self.value(x, where) for x in v]
            return {"kind": "tuple", "value": items} if isinstance(v, tuple) else items
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {"kind": "dict", "value": {k: self.value(x, where)
                                              for k, x in v.items()}}
        raise TypeError(
            f"{where} = {v!r} (type {type(v).__name__}) cannot be saved safely; "
            "expected None, a bool, a number, a string, or a list, tuple or dict "
            "of them."
        )


def _read_value(v):
    if isinstance(v, list):
        return [_read_value(x) for x in v]
    if isinstance(v, dict):
        kind = v["kind"]
        if kind == "float":
            return float(v["value"])
        if kind == "tuple":
            return tuple(_read_value(x) for x in v["value"])
        if kind == "dict":
            return {k: _read_value(x) for k, x in v["value"].items()}
        raise ValueError(f"unknown value kind {kind!r} in the file")
    return v


def _encode_attr(name, value, w, est):
    """JSON form of one fitted attribute (arrays go to the writer)."""
    if isinstance(value, SampleLayout):
        return {"kind": "layout", "layout": [value.kind, list(value.shape),
                                             value.window]}
    if isinstance(value, SampleCodec):
        s = value.scaling
        return {
            "kind": "codec",
            "layout": [value.layout.kind, list(value.layout.shape),
                       value.layout.window],
            "mean": w.array(s.mean), "scale": w.array(s.scale),
            "constant": None if s.constant is None else w.array(s.constant),
            "n_features": value.n_features, "stride": value.stride,
            "initial_strategy": value.initial_strategy,
            "missing_values": w.value(value.missing_values, name),
            "dtype": value.dtype.str,
        }
    if isinstance(value, MissingIndicator):
        return {"kind": "indicator", "features": w.array(value.features_),
                "n_features": int(value.n_features_in_)}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OUS":
            return {"kind": "strings", "value": [str(x) for x in value]}
        return w.array(value)
    if name == "field_models_":
        return {"kind": "field_models", "value": [
            {"spec": w.value(spec, name), "weight": float(weight),
             "coefs": None if coefs is None else [w.array(a) for a in coefs]}
            for spec, weight, coefs in value
        ]}
    if name == "calibration_":
        st = value.to_state()
        return {"kind": "calibration", "value": {
            k: w.array(v) if isinstance(v, np.ndarray) else
            w.value(list(v) if isinstance(v, tuple) else v, name)
            for k, v in st.items()}}
    if name == "net_":
        state = est.net_.module_.state_dict()
        return {"kind": "net", "state": {
            k: w.array(t.detach().cpu().numpy()) for k, t in state.items()}}
    if name == "history_":
        return {"kind": "history", "value": w.value(list(value.to_list()), name)}
    return {"kind": "value", "value": w.value(value, f"attribute {name}")}


def _layout(spec):
    kind, shape, window = spec
    return SampleLayout(kind, tuple(shape), window)


def _decode_attr(spec, arrays):
    kind = spec["kind"]
    if kind == "array":
        return arrays[spec["key"]]
    if kind == "layout":
        return _layout(spec["layout"])
    if kind == "codec":
        constant = None if spec["constant"] is None else arrays[spec["constant"]["key"]]
        scaling = Standardization(arrays[spec["mean"]["key"]],
                                  arrays[spec["scale"]["key"]], constant)
        return SampleCodec(_layout(spec["layout"]), scaling, spec["n_features"],
                           stride=spec["stride"],
                           initial_strategy=spec["initial_strategy"],
                           missing_values=_read_value(spec["missing_values"]),
                           dtype=np.dtype(spec["dtype"]))
    if kind == "indicator":
        features = arrays[spec["features"]["key"]]
        marks = np.zeros((1, spec["n_features"]))
        marks[0, features] = np.nan
        return MissingIndicator(features="missing-only").fit(marks)
    if kind == "strings":
        return np.asarray(spec["value"], dtype=object)
    if kind == "field_models":
        return [(_read_value(m["spec"]), m["weight"],
                 None if m["coefs"] is None else
                 tuple(arrays[a["key"]] for a in m["coefs"]))
                for m in spec["value"]]
    if kind == "calibration":
        from ._uncertainty import ResidualCalibration

        state = {k: arrays[v["key"]] if isinstance(v, dict) and "key" in v
                 and v.get("kind") == "array" else _read_value(v)
                 for k, v in spec["value"].items()}
        return ResidualCalibration.from_state(state)
    if kind in ("value", "history"):
        return _read_value(spec["value"])
    if kind == "net":
        return {k: arrays[a["key"]] for k, a in spec["state"].items()}
    raise ValueError(f"unknown attribute kind {kind!r} in the file")


def save_estimator(est, path):
    """Write a fitted estimator to ``path`` (see ``_BaseImputer.save``)."""
    from sklearn.utils.validation import check_is_fitted

    __version__ = _sklvar_version()
    check_is_fitted(est)
    w = _Writer()
    params = {}
    for name, value in est.get_params(deep=False).items():
        try:
            params[name] = w.value(value, f"parameter {name}")
        except TypeError as exc:
            raise TypeError(
                f"{type(est).__name__}.save: {exc} Only estimators whose "
                "parameters are plain values can be saved in the safe format "
                "(give prior and solver by name, callbacks=None, an int "
                "random_state); use pickle for the others, and load such files "
                "only from sources you trust."
            ) from None
    params = {k: v for k, v in params.items()}
    fitted = {}
    for name, value in vars(est).items():
        if name in params:
            continue
        try:
            fitted[name] = _encode_attr(name, value, w, est)
        except TypeError as exc:
            raise TypeError(
                f"{type(est).__name__}.save: fitted attribute {name}: {exc}"
            ) from None
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
            "sklvar_version": __version__, "class": type(est).__name__,
            "params": params, "fitted": fitted}
    arrays = dict(w.arrays)
    arrays["__meta__"] = np.array(json.dumps(meta))
    with open(path, "wb") as f:  # np.savez would append .npz to a str path
        np.savez(f, **arrays)


def load_estimator(cls, path, device=None):
    """Read an estimator written by :func:`save_estimator` (no code run)."""
    __version__ = _sklvar_version()

    with np.load(path, allow_pickle=False) as archive:
        try:
            meta = json.loads(str(archive["__meta__"]))
        except KeyError:
            raise ValueError(
                f"{path!s} is not a sklvar estimator file (no metadata); expected "
                "a file written by save()."
            ) from None
        arrays = {k: archive[k] for k in archive.files if k != "__meta__"}
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path!s}: format {meta.get('format')!r} version "
            f"{meta.get('format_version')!r}; expected {FORMAT!r} version "
            f"{FORMAT_VERSION} (written by a different sklvar)."
        )
    if meta["class"] != cls.__name__:
        raise ValueError(
            f"{path!s} holds a {meta['class']}, not a {cls.__name__}; load it "
            f"with {meta['class']}.load."
        )
    if meta["sklvar_version"] != __version__:
        warnings.warn(
            f"{path!s} was saved by sklvar {meta['sklvar_version']}, this is "
            f"sklvar {__version__}: check the results.", UserWarning,
        )
    params = {k: _read_value(v) for k, v in meta["params"].items()}
    if device is not None:
        params["device"] = device
    est = cls(**params)
    net_state = None
    for name, spec in meta["fitted"].items():
        value = _decode_attr(spec, arrays)
        if spec["kind"] == "net":
            net_state = value
        elif spec["kind"] != "history":
            setattr(est, name, value)
    if net_state is not None:
        est._restore_net(net_state, meta["fitted"].get("history_"))
    return est
