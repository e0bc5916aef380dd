"""Sphinx configuration of the hwsim documentation.

Build (warnings are errors, as in CI)::

    pip install -e ".[docs]"
    python -m sphinx -W -b html docs OUT

The gallery (``examples/``) runs every example in quick mode at build time and renders its figures.
"""

import importlib.util
import os
import sys

import hwsim

sys.path.insert(0, os.path.abspath(".."))  # scripts/ for the examples that call them
sys.path.insert(0, os.path.abspath("_ext"))  # the component catalogue directive

project = "hwsim"
author = "the hwsim developers"
copyright = "2026, the hwsim developers"
release = version = hwsim.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",  # one page per public object, a summary table per module (docs/_templates)
    "sphinx.ext.intersphinx",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
    "hwsim_catalogue",
    "hwsim_references",  # package re-exports resolve to their definitions; no private bases shown
    "myst_parser",  # the study pages (docs/studies/*.md) are Markdown
]

napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
# Parameters and Returns as text, not type fields: the NumPy docstrings' types ("float [F, N]", "array_like,
# shape [M-1]") are prose, and a type field would make every word of them a cross-reference.
napoleon_use_param = False
napoleon_use_ivar = True
# "Attributes" sections read as Parameters do (text): their types are prose as well
napoleon_custom_sections = [("Attributes", "params_style")]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"  # the NumPy docstrings state the types
autosummary_generate = True
autosummary_imported_members = False
templates_path = ["_templates"]
nitpicky = True  # every cross-reference must resolve (warnings are errors in CI)

# Other projects' objects link to their sites. The build is offline: each inventory is a file kept in
# docs/_intersphinx/, written by docs/_intersphinx/make_inventories.py from the installed packages.
_INV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_intersphinx")
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", os.path.join(_INV, "python.inv")),
    "numpy": ("https://numpy.org/doc/stable/", os.path.join(_INV, "numpy.inv")),
    "scipy": ("https://docs.scipy.org/doc/scipy/", os.path.join(_INV, "scipy.inv")),
    "torch": ("https://docs.pytorch.org/docs/stable/", os.path.join(_INV, "torch.inv")),
    "sionna": ("https://nvlabs.github.io/sionna/", os.path.join(_INV, "sionna.inv")),
}

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
}

html_theme = "furo"  # a maintained theme with a wide content column: code blocks are not cut
html_title = f"hwsim {release}"
# Math renders without the network: the MathJax 3 copy of the sphinx-mathjax-offline package is shipped with
# the site (its _static/mathjax/) and loaded from there.
_MATHJAX = os.path.join(os.path.dirname(importlib.util.find_spec("sphinx-mathjax-offline").origin), "static")
html_static_path = [_MATHJAX]
mathjax_path = "mathjax/tex-chtml.js"
exclude_patterns = ["_build", "figures/README.md"]
