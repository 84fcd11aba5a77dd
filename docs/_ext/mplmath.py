"""Render the documentation's math offline, with matplotlib's mathtext.

Sphinx's default, MathJax, loads a script from a CDN when the page is viewed,
and ``sphinx.ext.imgmath`` needs a LaTeX installation. This extension needs
neither: each formula is drawn to an SVG file by :mod:`matplotlib.mathtext`
(matplotlib is a ``docs`` dependency) at build time and shown as an image, so
the built pages render their math without internet. mathtext knows a large
subset of TeX; the few commands it lacks are mapped to ones it knows
(``_SUBSTITUTIONS``). A formula it cannot draw is shown as its TeX source in
``<code>`` with a build warning (an error under ``sphinx -W``).
"""

import hashlib
import html
import posixpath
import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

def _text(match):
    """``\\text{...}`` as upright mathtext, its spaces and underscores kept."""
    content = match.group(1).replace("``", "").replace("_", r"\_")
    return r"\mathrm{" + content.replace(" ", r"\ ") + "}"


# TeX commands mathtext lacks -> equivalents it draws
_SUBSTITUTIONS = [
    (re.compile(r"\\(?:text|operatorname|textrm)\{([^{}]*)\}"), _text),
    (re.compile(r"\\[bB]ig{1,2}[lr]?(?=[()\[\]|.])"), ""),
    (re.compile(r"\\le(?![A-Za-z])"), r"\\leq"),
    (re.compile(r"\\ge(?![A-Za-z])"), r"\\geq"),
    (re.compile(r"\\qquad"), r"\\quad\\quad"),
    (re.compile(r"\\\\"), r"\\quad"),  # line breaks of a block: one line
]


def to_mathtext(latex):
    """The TeX of a formula as one line of mathtext."""
    tex = " ".join(latex.split())
    for pattern, replacement in _SUBSTITUTIONS:
        tex = pattern.sub(replacement, tex)
    return tex


def render_svg(latex, path, fontsize=12):
    """Draw a formula to an SVG file (raises ValueError if mathtext cannot)."""
    import matplotlib
    from matplotlib import mathtext
    from matplotlib.font_manager import FontProperties

    path.parent.mkdir(parents=True, exist_ok=True)
    # TeX's Computer Modern look; transparent, for light and dark themes
    style = {"mathtext.fontset": "cm", "savefig.transparent": True,
             "svg.hashsalt": "sklvar", "svg.fonttype": "path"}
    with matplotlib.rc_context(style):
        mathtext.math_to_image(f"${to_mathtext(latex)}$", str(path),
                               prop=FontProperties(size=fontsize), format="svg")


def _html(self, latex, block):
    tex = to_mathtext(latex)
    name = hashlib.sha1(tex.encode()).hexdigest()[:16] + ".svg"
    path = Path(self.builder.outdir) / "_images" / "math" / name
    alt = html.escape(latex.strip(), quote=True)
    try:
        if not path.exists():
            render_svg(latex, path, fontsize=13 if block else 11)
    except Exception as exc:  # mathtext raises ValueError (and others)
        logger.warning(f"mplmath: cannot draw {latex!r}: {exc}", type="mplmath")
        return f'<code class="math">{alt}</code>'
    src = posixpath.join(self.builder.imgpath, "math", name)
    style = "" if block else ' style="vertical-align: middle"'
    return f'<img class="math" src="{src}" alt="{alt}"{style}/>'


def visit_math(self, node):
    self.body.append(_html(self, node.astext(), block=False))
    raise nodes.SkipNode


def visit_math_block(self, node):
    self.body.append(self.starttag(node, "div", CLASS="math"))
    self.body.append("<p>" + _html(self, node.astext(), block=True) + "</p>")
    self.body.append("</div>\n")
    raise nodes.SkipNode


def setup(app):
    app.add_html_math_renderer("mplmath", (visit_math, None),
                               (visit_math_block, None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
