"""Sphinx configuration of the sklvar documentation.

Build it from the repository root with::

    pip install -e ".[docs]"
    python -m sphinx -W -b html docs docs/_build/html

Environment variables:

- ``SKLVAR_GALLERY=all`` (default) runs every example of the gallery;
  ``SKLVAR_GALLERY=fast`` runs only the fast ones (CI); ``none`` runs none
  (the examples are shown without their output and figures).
- ``SKLVAR_MNIST``: folder of the MNIST IDX files for the MNIST example
  (default: ``../shared/data/mnist`` beside the repository); without them
  that example is shown but not run.
"""

import os
import pathlib
import re
import sys

import sklvar

# the gallery resolves the names an example uses (backreferences) even when it
# does not run it: IterativeImputer needs scikit-learn's experimental flag
import sklearn.experimental.enable_iterative_imputer  # noqa: E402,F401

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "sklvar"
copyright = "sklvar developers, BSD-3-Clause"
author = "sklvar developers"
version = release = sklvar.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "mplmath",  # math drawn to SVG at build time: no MathJax CDN, no LaTeX
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

# the only math renderer: pages render their math without internet
html_math_renderer = "mplmath"

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5",
                    "auto_examples/*.json", "sg_execution_times.rst",
                    # sphinx-gallery's timing table loads scripts from CDNs
                    "auto_examples/sg_execution_times.rst"]
root_doc = "index"

# ------------------------------------------------------------------ API pages
autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
# numpydoc lists the members itself through the class template
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
default_role = "literal"

# ------------------------------------------------------------------ HTML theme
try:
    import pydata_sphinx_theme  # noqa: F401
except ImportError:  # pragma: no cover - the docs extra installs it
    html_theme = "alabaster"
else:
    html_theme = "pydata_sphinx_theme"
    html_theme_options = {
        "navigation_with_keys": False,
        "show_toc_level": 2,
        "secondary_sidebar_items": ["page-toc"],
    }
html_title = f"sklvar {version}"
html_static_path = []
html_show_sourcelink = False
# sphinx_gallery_conf holds a function (the thread resetter): the environment
# is simply not cached between builds
suppress_warnings = ["config.cache"]


# --------------------------------------------------------------- the gallery
def _mnist_available():
    candidates = [os.environ.get("SKLVAR_MNIST"),
                  ROOT.parent / "shared" / "data" / "mnist"]
    return any(
        folder and list(pathlib.Path(folder).glob("t10k-images-idx3-ubyte*"))
        for folder in candidates
    )


# seconds measured on one busy core: grid search ~40, pipeline ~25,
# Lorenz-63 ~55, MNIST ~45; "fast" keeps the build well under 3 minutes
_FAST_EXAMPLES = ["plot_series_table", "plot_uncertainty", "plot_pipeline_dataframe",
                  "plot_grid_search"]
_ALL_EXAMPLES = _FAST_EXAMPLES + ["plot_lorenz63_gap_filling", "plot_mnist_inpainting"]

_mode = os.environ.get("SKLVAR_GALLERY", "all")
if _mode not in ("all", "fast", "none"):
    raise ValueError(f"SKLVAR_GALLERY must be all, fast or none, got {_mode!r}.")
_run = {"all": _ALL_EXAMPLES, "fast": _FAST_EXAMPLES, "none": []}[_mode]
if not _mnist_available():
    _run = [name for name in _run if name != "plot_mnist_inpainting"]
if os.environ.get("SKLVAR_MNIST") is None and _mnist_available():
    # the example looks for ../../shared/data/mnist from examples/ itself
    os.environ["SKLVAR_MNIST"] = str(ROOT.parent / "shared/data/mnist")


# the uncertainty example reads a real series from the shared development data
# when it is there ($SKLVAR_REALTS), and simulates a stand-in otherwise
if os.environ.get("SKLVAR_REALTS") is None and \
        (ROOT.parent / "shared" / "data" / "realts" / "etth1.txt.gz").exists():
    os.environ["SKLVAR_REALTS"] = str(ROOT.parent / "shared" / "data" / "realts")


def _one_thread(gallery_conf, fname):
    """Run each example on one torch thread.

    On a busy 2-core machine two threads made training up to 10x slower
    (oneDNN threads spinning), one thread is never much slower.
    """
    import torch

    torch.set_num_threads(int(os.environ.get("SKLVAR_DOCS_THREADS", "1")))


sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/(" + "|".join(map(re.escape, _run)) + ")\\.py$"
    if _run else "^$",
    "within_subsection_order": "FileNameSortKey",
    "reset_modules": ("matplotlib", _one_thread),
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
}


# ------------------------------------------------------ docstring adjustments
# "Tensor of shape (n_batch, *sample_shape)": a star that starts a name inside
# a shape is literal text, not the start of an emphasis
_STAR_IN_SHAPE = re.compile(r"(?<=[(,] )\*(?=[A-Za-z_])|(?<=\()\*(?=[A-Za-z_])")


def _fix_docstring(app, what, name, obj, options, lines):
    """Join continued type lines and escape the star of ``*sample_shape`` in shapes."""
    joined = []
    for line in lines:
        # a parameter type continued on the next line with a trailing backslash
        if joined and joined[-1].endswith("\\") and not joined[-1].endswith("\\\\"):
            joined[-1] = joined[-1][:-1].rstrip() + " " + line.strip()
        else:
            joined.append(line)
    lines[:] = [_STAR_IN_SHAPE.sub(r"\\*", line) for line in joined]


def _skip_member(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated metadata-routing setters."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _fix_docstring, priority=400)
    app.connect("autodoc-skip-member", _skip_member)
