"""Sphinx configuration of the hwsim documentation.

Build (warnings are errors, as in CI)::

    pip install -e ".[docs]"
    python -m sphinx -W -b html docs OUT

The gallery (``examples/``) runs every example in quick mode at build time and renders its figures.
"""

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
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
    "hwsim_catalogue",
    "myst_parser",  # the study pages (docs/studies/*.md) are Markdown
]

napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes" as fields (NamedTuple fields are documented once)
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"  # the NumPy docstrings state the types
nitpicky = False

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
}

html_theme = "alabaster"
html_static_path = []
exclude_patterns = ["_build", "figures/README.md"]
