"""Write the intersphinx inventories of the projects hwsim's documentation links to, offline.

The documentation builds without the network, so Sphinx cannot fetch ``objects.inv`` from numpy's,
scipy's, PyTorch's, Sionna's and Python's sites. This script writes one inventory per project
(``docs/_intersphinx/NAME.inv``, the format Sphinx reads) for the objects hwsim's docs refer to,
listed below with the page each project documents them on. Every object is imported from the
installed package first, so a name that does not exist (a typo, a renamed API) stops the script.

    python docs/_intersphinx/make_inventories.py     # rewrite the .inv files next to this script

Add an entry here when a docstring refers to another object of these projects.
"""

from __future__ import annotations

import importlib
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: project -> (version label, {object: (role, page#anchor or page)}); the role is the Sphinx
#: ``py:`` object type and the page is relative to the project's documentation root.
PROJECTS = {
    "python": ("3", {
        "json": ("module", "library/json.html#module-json"),
        "tomllib": ("module", "library/tomllib.html#module-tomllib"),
        "tomllib.load": ("function", "library/tomllib.html#tomllib.load"),
        "pathlib.Path": ("class", "library/pathlib.html#pathlib.Path"),
        "object": ("class", "library/functions.html#object"),
        "typing.Literal": ("data", "library/typing.html#typing.Literal"),
        "typing.NamedTuple": ("class", "library/typing.html#typing.NamedTuple"),
        "UserWarning": ("exception", "library/exceptions.html#UserWarning"),
        "RuntimeWarning": ("exception", "library/exceptions.html#RuntimeWarning"),
        "float": ("class", "library/functions.html#float"),
        "int": ("class", "library/functions.html#int"),
        "str": ("class", "library/stdtypes.html#str"),
        "bool": ("class", "library/functions.html#bool"),
        "bytes": ("class", "library/stdtypes.html#bytes"),
        "dict": ("class", "library/stdtypes.html#dict"),
        "list": ("class", "library/stdtypes.html#list"),
        "tuple": ("class", "library/stdtypes.html#tuple"),
        "callable": ("function", "library/functions.html#callable"),
        "ValueError": ("exception", "library/exceptions.html#ValueError"),
        "TypeError": ("exception", "library/exceptions.html#TypeError"),
        "RuntimeError": ("exception", "library/exceptions.html#RuntimeError"),
        "KeyboardInterrupt": ("exception", "library/exceptions.html#KeyboardInterrupt"),
        "subprocess.Popen": ("class", "library/subprocess.html#subprocess.Popen"),
        "select.poll": ("function", "library/select.html#select.poll"),
        "concurrent.futures.ProcessPoolExecutor": ("class",
                                                   "library/concurrent.futures.html#concurrent.futures.ProcessPoolExecutor"),
        "dataclasses.dataclass": ("function", "library/dataclasses.html#dataclasses.dataclass"),
        "argparse.ArgumentParser": ("class", "library/argparse.html#argparse.ArgumentParser"),
        "argparse.Namespace": ("class", "library/argparse.html#argparse.Namespace"),
        "importlib.metadata": ("module", "library/importlib.metadata.html#module-importlib.metadata"),
    }),
    "numpy": ("2", {
        "numpy.ndarray": ("class", "reference/generated/numpy.ndarray.html#numpy.ndarray"),
        "numpy.random.Generator": ("class", "reference/random/generator.html#numpy.random.Generator"),
        "numpy.random.default_rng": ("function", "reference/random/generator.html#numpy.random.default_rng"),
        "numpy.random.SeedSequence": ("class",
                                      "reference/random/bit_generators/generated/numpy.random.SeedSequence.html"),
        "numpy.rint": ("data", "reference/generated/numpy.rint.html#numpy.rint"),
        "numpy.ldexp": ("data", "reference/generated/numpy.ldexp.html#numpy.ldexp"),
        "numpy.searchsorted": ("function", "reference/generated/numpy.searchsorted.html#numpy.searchsorted"),
        "numpy.load": ("function", "reference/generated/numpy.load.html#numpy.load"),
        "numpy.save": ("function", "reference/generated/numpy.save.html#numpy.save"),
        "numpy.float64": ("class", "reference/arrays.scalars.html#numpy.float64"),
        "numpy.int64": ("class", "reference/arrays.scalars.html#numpy.int64"),
    }),
    "scipy": ("1", {
        "scipy.io.savemat": ("function", "reference/generated/scipy.io.savemat.html#scipy.io.savemat"),
        "scipy.io.whosmat": ("function", "reference/generated/scipy.io.whosmat.html#scipy.io.whosmat"),
        "scipy.io.loadmat": ("function", "reference/generated/scipy.io.loadmat.html#scipy.io.loadmat"),
        "scipy.special.ndtr": ("data", "reference/generated/scipy.special.ndtr.html#scipy.special.ndtr"),
        "scipy.optimize.minimize": ("function",
                                    "reference/generated/scipy.optimize.minimize.html#scipy.optimize.minimize"),
        "scipy.signal.get_window": ("function",
                                    "reference/generated/scipy.signal.get_window.html#scipy.signal.get_window"),
    }),
    "torch": ("2", {
        "torch.Tensor": ("class", "tensors.html#torch.Tensor"),
        "torch.Generator": ("class", "generated/torch.Generator.html#torch.Generator"),
        "torch.nn.Module": ("class", "generated/torch.nn.Module.html#torch.nn.Module"),
        "torch.nn.modules.module.Module": ("class", "generated/torch.nn.Module.html#torch.nn.Module"),
        "torch.bucketize": ("function", "generated/torch.bucketize.html#torch.bucketize"),
        "torch.optim.Adam": ("class", "generated/torch.optim.Adam.html#torch.optim.Adam"),
        "torch.device": ("class", "tensor_attributes.html#torch.device"),
        "torch.save": ("function", "generated/torch.save.html#torch.save"),
        "torch.load": ("function", "generated/torch.load.html#torch.load"),
    }),
    "sionna": ("2", {
        "sionna.phy.ofdm.ResourceGrid": ("class", "phy/api/ofdm.html#sionna.phy.ofdm.ResourceGrid"),
        "sionna.phy.ofdm.PilotPattern": ("class", "phy/api/ofdm.html#sionna.phy.ofdm.PilotPattern"),
        "sionna.phy.channel.cir_to_time_channel": ("function",
                                                   "phy/api/channel.wireless.html#sionna.phy.channel.cir_to_time_channel"),
        "sionna.phy.mimo.LinearDetector": ("class", "phy/api/mimo.html#sionna.phy.mimo.LinearDetector"),
        "sionna.phy.mimo.KBestDetector": ("class", "phy/api/mimo.html#sionna.phy.mimo.KBestDetector"),
        "sionna.phy.mimo.EPDetector": ("class", "phy/api/mimo.html#sionna.phy.mimo.EPDetector"),
        "sionna.phy.mimo.MMSEPICDetector": ("class", "phy/api/mimo.html#sionna.phy.mimo.MMSEPICDetector"),
        "sionna.phy.mimo.MaximumLikelihoodDetector": ("class",
                                                      "phy/api/mimo.html#sionna.phy.mimo.MaximumLikelihoodDetector"),
        "sionna.phy.fec.ldpc.LDPC5GEncoder": ("class", "phy/api/fec.ldpc.html#sionna.phy.fec.ldpc.LDPC5GEncoder"),
        "sionna.phy.fec.ldpc.LDPC5GDecoder": ("class", "phy/api/fec.ldpc.html#sionna.phy.fec.ldpc.LDPC5GDecoder"),
        "sionna.phy.fec.conv": ("module", "phy/api/fec.conv.html#module-sionna.phy.fec.conv"),
        "sionna.phy.fec.conv.ConvEncoder": ("class", "phy/api/fec.conv.html#sionna.phy.fec.conv.ConvEncoder"),
        "sionna.phy.fec.conv.ViterbiDecoder": ("class", "phy/api/fec.conv.html#sionna.phy.fec.conv.ViterbiDecoder"),
        "sionna.phy.fec.conv.BCJRDecoder": ("class", "phy/api/fec.conv.html#sionna.phy.fec.conv.BCJRDecoder"),
        "sionna.phy.ofdm.LSChannelEstimator": ("class", "phy/api/ofdm.html#sionna.phy.ofdm.LSChannelEstimator"),
        "sionna.phy.ofdm.LMMSEEqualizer": ("class", "phy/api/ofdm.html#sionna.phy.ofdm.LMMSEEqualizer"),
        "sionna.phy.ofdm.LMMSEChannelEstimator": ("class", "phy/api/ofdm.html#sionna.phy.ofdm.LMMSEChannelEstimator"),
        "sionna.phy.mapping.Demapper": ("class", "phy/api/mapping.html#sionna.phy.mapping.Demapper"),
        "sionna.phy.channel.time_lag_discrete_time_channel": (
            "function", "phy/api/channel.wireless.html#sionna.phy.channel.time_lag_discrete_time_channel"),
        "sionna.phy.channel.exp_corr_mat": ("function", "phy/api/channel.wireless.html#sionna.phy.channel.exp_corr_mat"),
        "sionna.phy.channel.KroneckerModel": ("class", "phy/api/channel.wireless.html#sionna.phy.channel.KroneckerModel"),
        "sionna.phy.channel.GenerateFlatFadingChannel": (
            "class", "phy/api/channel.wireless.html#sionna.phy.channel.GenerateFlatFadingChannel"),
        "sionna.phy.channel.tr38901.TDL": ("class", "phy/api/channel.wireless.html#sionna.phy.channel.tr38901.TDL"),
    }),
}


def _exists(name: str) -> bool:
    """``name`` is importable as a module, or as an attribute of an importable module."""
    parts = name.split(".")
    if len(parts) == 1:
        import builtins

        return hasattr(builtins, name) or importlib.util.find_spec(name) is not None
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def inventory(project: str, version: str, entries: dict) -> bytes:
    """The bytes of a Sphinx (version 2) inventory of ``entries``."""
    lines = []
    for name, (role, uri) in sorted(entries.items()):
        if not _exists(name):
            raise SystemExit(f"{project}: {name} does not exist in the installed package; fix the entry")
        lines.append(f"{name} py:{role} 1 {uri} -\n")
        if role == "module":
            continue
    header = (f"# Sphinx inventory version 2\n# Project: {project}\n# Version: {version}\n"
              "# The remainder of this file is compressed using zlib.\n").encode()
    return header + zlib.compress("".join(lines).encode())


def main() -> int:
    for project, (version, entries) in PROJECTS.items():
        path = HERE / f"{project}.inv"
        data = inventory(project, version, entries)
        tmp = path.with_suffix(".inv.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        print(f"wrote {path.name}: {len(entries)} objects")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
