"""``.. hwsim-components::`` [KIND ...]: the component catalogue, generated from the registry at build
time (:func:`hwsim.components.catalogue`), so the guide lists exactly what a config can name."""

from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective


class ComponentCatalogue(SphinxDirective):
    optional_arguments = 6

    def run(self):
        from docutils import nodes

        from hwsim.components import catalogue

        text = catalogue(self.arguments or None)
        container = nodes.container()
        self.state.nested_parse(StringList(text.splitlines(), source="hwsim.components.catalogue"), self.content_offset,
                                container)
        return container.children


def setup(app):
    app.add_directive("hwsim-components", ComponentCatalogue)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
