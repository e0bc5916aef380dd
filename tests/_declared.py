"""Helpers the tests of declared components share: the registered receivers of some modules, and the
``__init__`` a class uses as the registry wrapped it."""

from hwsim import components


def receivers_of(modules) -> list[type]:
    """The registered receivers whose classes live in ``hwsim.receivers.<module>`` for each of ``modules``."""
    homes = {f"hwsim.receivers.{m}" for m in modules}
    found = [components.lookup("receiver", n) for n in components.names("receiver")]
    return [cls for cls in found if cls.__module__ in homes]


def declared_init(cls):
    """The ``__init__`` the registry wrapped that ``cls`` uses (its own or an inherited one), or None."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            return init if getattr(init, "__hwsim_declared__", False) else None
    return None
